/**
 * Answers the forwarder makes itself, without asking an upstream: special-use names (RFC 6761
 * §6.3 `localhost`, §6.4 `invalid`; RFC 6762 `local` is mDNS and must not leak to unicast
 * upstreams) and blocked names in the configured form (dns.md §2 item 22: null IP stops the
 * stub's search list, NXDOMAIN lets it continue).
 */
import { Rcode, RrType } from './message.js';
import { buildErrorResponse, buildLocalAnswer, type ClientView } from './response.js';

/**
 * The policy contract (implemented by src/dns/policy.ts on the dns-filter branch; declared here
 * structurally so the engine builds on its own).
 */
export interface LocalRecord {
  readonly name: string;
  readonly type: number;
  readonly ttl: number;
  /** RDATA in wire format. */
  readonly rdata: Uint8Array;
}
export type PolicyDecision =
  | { readonly type: 'forward' }
  | { readonly type: 'block'; readonly list: string }
  | { readonly type: 'local'; readonly records: readonly LocalRecord[]; readonly rcode: number };
export interface QueryPolicy {
  /** `qname` is lower-case, without the trailing dot. */
  decide(qname: string, qtype: number): PolicyDecision;
  /** CNAME-cloaking check: called with the CNAME targets found in an upstream answer. */
  decideCnameTargets?(targets: readonly string[]): PolicyDecision;
}

export type BlockedAnswerForm = 'null-ip' | 'nxdomain' | 'refused';

const LOOPBACK_V4 = Uint8Array.of(127, 0, 0, 1);
const LOOPBACK_V6 = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
const NULL_V4 = new Uint8Array(4);
const NULL_V6 = new Uint8Array(16);
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

/** The answer for a blocked name: 0.0.0.0 / :: (NODATA for other types), NXDOMAIN or REFUSED. */
export function blockedAnswer(view: ClientView, qname: string, qtype: number, form: BlockedAnswerForm, ttlS: number): Uint8Array {
  if (form === 'nxdomain') return buildErrorResponse(view, Rcode.NXDOMAIN);
  if (form === 'refused') return buildErrorResponse(view, Rcode.REFUSED);
  const recs = qtype === RrType.A ? [{ name: qname, type: RrType.A, ttl: ttlS, rdata: NULL_V4 }]
    : qtype === RrType.AAAA ? [{ name: qname, type: RrType.AAAA, ttl: ttlS, rdata: NULL_V6 }] : [];
  return buildLocalAnswer(view, qname, recs, Rcode.NOERROR);
}
