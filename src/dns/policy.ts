/**
 * Query policy: what to do with a question before any upstream sees it. Pure and synchronous,
 * one call per query on the hot path (a few Map lookups, no allocation beyond label suffixes).
 *
 * Order (dns.md §1c): local records win, then the allowlist, then blocklists, else forward.
 * Local data wins so that a blocklist can never break names this server is authoritative for;
 * the allowlist beats blocklists so users can punch holes in third-party lists.
 * CNAME cloaking (a first-party name aliased to a tracker): after the upstream answers, the
 * forwarder passes the CNAME targets to `decideCnameTargets`; any blocked, non-allowlisted
 * target blocks the whole answer (AdGuard Home and blocky do the same).
 */
import type { BlocklistMatcher } from './blocklist.js';
import type { LocalRecord, LocalRecordStore } from './local-records.js';
import { RCODE, RR_TYPE, type Rcode } from './rdata.js';

export type { LocalRecord } from './local-records.js';

/** What the forwarder does with one query. */
export type PolicyDecision =
  | { readonly type: 'forward' }
  | { readonly type: 'block'; readonly list: string }
  | { readonly type: 'local'; readonly records: readonly LocalRecord[]; readonly rcode: number };

/** The policy the forwarder consults; see the module comment for the order of checks. */
export interface QueryPolicy {
  /** `qname` lower case, no trailing dot; `qtype` the RR TYPE code. */
  decide(qname: string, qtype: number): PolicyDecision;
  /** Checks the CNAME targets of an upstream answer (CNAME cloaking). */
  decideCnameTargets?(targets: readonly string[]): PolicyDecision;
}

const FORWARD: PolicyDecision = Object.freeze({ type: 'forward' });

/** Builds the policy. Every part is optional; with none, everything is forwarded. */
export function createPolicy(opts: {
  local?: LocalRecordStore;
  blocklist?: BlocklistMatcher;
  allowlist?: BlocklistMatcher;
  cnameCloaking: boolean;
}): QueryPolicy {
  const { local, blocklist, allowlist, cnameCloaking } = opts;
  const blockedBy = (name: string): string | undefined => {
    if (blocklist === undefined) return undefined;
    if (allowlist !== undefined && allowlist.match(name) !== undefined) return undefined;
    return blocklist.match(name);
  };
  return {
    decide(qname: string, qtype: number): PolicyDecision {
      const answer = local?.lookup(qname, qtype);
      if (answer !== undefined) return { type: 'local', records: answer.records, rcode: answer.rcode };
      const list = blockedBy(qname);
      return list === undefined ? FORWARD : { type: 'block', list };
    },
    decideCnameTargets(targets: readonly string[]): PolicyDecision {
      if (!cnameCloaking) return FORWARD;
      for (const t of targets) {
        const list = blockedBy(t);
        if (list !== undefined) return { type: 'block', list };
      }
      return FORWARD;
    },
  };
}

/** How a blocked query is answered (dns.md §2 item 22: 0.0.0.0 stops the search list, NXDOMAIN does not). */
export const BLOCK_ANSWER_MODES = ['null_ip', 'nxdomain', 'refused'] as const;
export type BlockAnswerMode = (typeof BLOCK_ANSWER_MODES)[number];

/**
 * The answer for a blocked query: `null_ip` gives 0.0.0.0 / :: for A / AAAA and NODATA for
 * other types; `nxdomain` and `refused` give that RCODE with no records.
 */
export function blockedAnswer(qname: string, qtype: number, mode: BlockAnswerMode, ttlS: number): { readonly records: readonly LocalRecord[]; readonly rcode: Rcode } {
  if (mode === 'nxdomain') return { records: [], rcode: RCODE.NXDOMAIN };
  if (mode === 'refused') return { records: [], rcode: RCODE.REFUSED };
  if (qtype === RR_TYPE.A) return { records: [{ name: qname, type: RR_TYPE.A, ttl: ttlS, rdata: new Uint8Array(4) /* 0.0.0.0 */ }], rcode: RCODE.NOERROR };
  if (qtype === RR_TYPE.AAAA) return { records: [{ name: qname, type: RR_TYPE.AAAA, ttl: ttlS, rdata: new Uint8Array(16) /* :: */ }], rcode: RCODE.NOERROR };
  return { records: [], rcode: RCODE.NOERROR };
}
