/**
 * The forwarder's pending-query table entries: a question in flight upstream (`Pending`), the
 * clients waiting for it (`Waiter`, several when identical queries coalesce, dns.md §2 item 6),
 * each upstream try (`Attempt`, with its own transaction ID) and the deadline-heap entries that
 * time them out. Also the random transaction IDs themselves (RFC 5452 §9.2) and the observer
 * event for one answered waiter. Pure data and helpers; the state machine is forwarder.ts.
 */
import type { Rng } from '../runtime/rng.js';
import type { ParsedMessage, ResponseScan } from './message.js';
import type { ClientView } from './response.js';
import type { Route } from './router.js';
import type { UpstreamSpec } from './upstream-spec.js';
import type { AnsweredQuery, ClientTransport, UpstreamGroup } from './forwarder-types.js';

/** A client waiting for the answer to a pending question. */
export interface Waiter<C> {
  readonly client: C;
  readonly view: ClientView;
  readonly transport: ClientTransport;
  readonly startedAtMs: number;
}

/** One query sent to one upstream; `token` names it to the io/ edge. */
export interface Attempt {
  readonly token: number;
  readonly upstream: UpstreamSpec;
  readonly transport: 'udp' | 'tcp' | 'tls' | 'https';
  readonly txid: number;
  readonly sentAtMs: number;
  readonly pending: Pending<unknown>;
  live: boolean;
  timedOut: boolean;
}

/** A question in flight, keyed by its cache key, with everyone waiting for it. */
export interface Pending<C> {
  readonly key: string;
  readonly msg: ParsedMessage;
  readonly question: Uint8Array;
  readonly route: Route;
  group: UpstreamGroup;
  usingFallback: boolean;
  waiters: Waiter<C>[];
  readonly attempts: Attempt[];
  /** Upstreams in the order to try; `next` is the first not yet tried (the array may be shared). */
  queue: readonly UpstreamSpec[];
  next: number;
  readonly deadlineMs: number;
  staleDeadlineMs: number | undefined;
  staleServed: boolean;
  softFail: { bytes: Uint8Array; msg: ParsedMessage; scan: ResponseScan } | undefined;
  done: boolean;
}

/** A deadline-heap entry: an attempt timing out, the whole query timing out, or the stale-answer timer (RFC 8767 §5). */
export type Timer = { readonly kind: 'attempt'; readonly attempt: Attempt } | { readonly kind: 'query' | 'stale'; readonly pending: Pending<unknown> };

/** Whether a heap entry still matters; answered, cancelled and superseded entries are skipped lazily. */
export function isTimerLive(t: Timer, at: number): boolean {
  if (t.kind === 'attempt') return t.attempt.live && !t.attempt.timedOut && !t.attempt.pending.done;
  if (t.kind === 'query') return !t.pending.done;
  return !t.pending.done && !t.pending.staleServed && t.pending.staleDeadlineMs === at;
}

/** How a pending question was answered, for the observer. */
export interface AnswerInfo {
  upstream?: UpstreamSpec;
  cacheHit?: boolean;
  list?: string | undefined;
}

/** The observer event for one waiter answered with `bytes` (rcode from header byte 3). */
export function answeredEvent<C>(pending: Pending<C>, w: Waiter<C>, bytes: Uint8Array, nowMs: number, info: AnswerInfo): AnsweredQuery<C> {
  return {
    client: w.client, transport: w.transport, qname: pending.msg.qname, qtype: pending.msg.qtype,
    route: info.list !== undefined ? 'blocked' : pending.group.name, rcode: bytes[3]! & 0x0f, cacheHit: info.cacheHit ?? false,
    list: info.list, upstream: info.upstream, durationMs: nowMs - w.startedAtMs,
  };
}

/** Bytes fetched from the Rng per refill: 256 IDs, so one CSPRNG call per 256 queries, not per query. */
const ID_POOL_BYTES = 512;

/** Random 16-bit transaction IDs for upstream queries (RFC 5452 §9.2), drawn from the Rng in blocks. */
export class QueryIdPool {
  readonly #rng: Rng;
  readonly #pool = new Uint8Array(ID_POOL_BYTES);
  #pos = ID_POOL_BYTES;

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  /** The next ID; its bytes are zeroed once handed out, so used IDs are not kept in memory. */
  next(): number {
    if (this.#pos >= this.#pool.length) {
      this.#rng.fill(this.#pool);
      this.#pos = 0;
    }
    const id = (this.#pool[this.#pos]! << 8) | this.#pool[this.#pos + 1]!;
    this.#pool[this.#pos] = 0;
    this.#pool[this.#pos + 1] = 0;
    this.#pos += 2;
    return id;
  }
}
