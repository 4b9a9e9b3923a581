/**
 * Answers the forwarder makes itself, without asking an upstream: special-use names (RFC 6761
 * §6.3 `localhost`, §6.4 `invalid`; RFC 6762 `local` is mDNS and must not leak to unicast
 * upstreams) and blocked names in the configured form (dns.md §2 item 22: null IP stops the
 * stub's search list, NXDOMAIN lets it continue).
 */
import { Rcode, RrType } from './message.js';
import { buildErrorResponse, buildLocalAnswer, type ClientView } from './response.js';
import { blockedAnswer as blockedRecords, type BlockAnswerMode } from './policy.js';

export type { LocalRecord, PolicyDecision, QueryPolicy } from './policy.js';
export type { BlockAnswerMode as BlockedAnswerForm } from './policy.js';

const LOOPBACK_V4 = Uint8Array.of(127, 0, 0, 1);
const LOOPBACK_V6 = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
/** TTL of answers for special-use names. */
const SPECIAL_USE_TTL_S = 300;

function underSuffix(qname: string, suffix: string): boolean {
  return qname === suffix || qname.endsWith(`.${suffix}`);
}

/** A local answer for special-use names, or undefined for names that should be routed. */
export function specialUseAnswer(view: ClientView, qname: string, qtype: number): Uint8Array | undefined {
  if (underSuffix(qname, 'localhost')) {
    const recs = qtype === RrType.A ? [{ name: qname, type: RrType.A, ttl: SPECIAL_USE_TTL_S, rdata: LOOPBACK_V4 }]
      : qtype === RrType.AAAA ? [{ name: qname, type: RrType.AAAA, ttl: SPECIAL_USE_TTL_S, rdata: LOOPBACK_V6 }] : [];
    return buildLocalAnswer(view, qname, recs, Rcode.NOERROR);
  }
  if (underSuffix(qname, 'invalid') || underSuffix(qname, 'local')) return buildErrorResponse(view, Rcode.NXDOMAIN);
  return undefined;
}

/** The answer for a blocked name in the configured form (records from policy.ts `blockedAnswer`). */
export function blockedAnswer(view: ClientView, qname: string, qtype: number, form: BlockAnswerMode, ttlS: number): Uint8Array {
  const { records, rcode } = blockedRecords(qname, qtype, form, ttlS);
  if (records.length === 0 && rcode !== Rcode.NOERROR) return buildErrorResponse(view, rcode);
  return buildLocalAnswer(view, qname, records, rcode);
}
