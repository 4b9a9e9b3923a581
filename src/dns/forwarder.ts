/**
 * The split-DNS forwarding engine, sans-IO (STYLE.md §7): client queries and upstream replies
 * come in as bytes with `now`; actions come out (respond to a client, send to an upstream,
 * cancel an upstream attempt). The edges in io/ own sockets; the Scheduler drives `poll`.
 *
 * Per query: parse header + question + OPT only (message.ts) → special-use names (RFC 6761) →
 * policy (block / local answer) → route (router.ts) → cache (cache.ts) → coalesce with an
 * identical query in flight (dns.md §2 item 6) → send to the route's upstreams per strategy with
 * a fresh random ID (RFC 5452 §9.2) and our own OPT. A reply is accepted only from the address
 * queried, with the ID sent and the same question (RFC 5452 §3); anything else is counted and
 * ignored. TC over UDP → the same upstream over TCP. Timeouts and SERVFAIL/REFUSED move on to
 * the next upstream; when the route's upstreams are exhausted: fallback group (never for
 * internal-only routes), else a stale answer (RFC 8767), else SERVFAIL — never silence.
 */
import { AnswerCache, cacheKey, type CacheEntry } from './cache.js';
import { DeadlineHeap } from '../runtime/deadline-heap.js';
import {
  FLAG_CD, FLAG_QR, Rcode, cnameTargets, copyBytes, parseMessage, scanResponse,
  type ParsedMessage,
} from './message.js';
import {
  EDE_NO_REACHABLE_AUTHORITY, buildErrorResponse, buildLocalAnswer, buildUpstreamQuery, finishCopyForClient, finishForClient,
  type ClientView,
} from './response.js';
import { LOCAL_NXDOMAIN_GROUP, SINGLE_LABEL_SUFFIX, type Route } from './router.js';
import { HealthTable } from './upstream-health.js';
import type { UpstreamSpec } from './upstream-spec.js';
import { QueryIdPool, answeredEvent, isTimerLive, type Attempt, type AnswerInfo, type Pending, type Timer } from './pending-query.js';
import { specialUseAnswer, blockedAnswer, type PolicyDecision } from './local-answer.js';
import { admitQuery } from './query-intake.js';
import type {
  ClientTransport, ForwarderAction, ForwarderOptions, ForwarderReconfig, ForwarderStats, ReplySource, UpstreamFailureReason, UpstreamGroup,
} from './forwarder-types.js';

export type * from './forwarder-types.js';

/** A ClientView that outlives `handleQuery`: its question no longer points into the borrowed query bytes. */
function keptView(view: ClientView): ClientView {
  return { ...view, question: view.question.slice() };
}

export class Forwarder<C> {
  readonly cache: AnswerCache;
  readonly health = new HealthTable();
  readonly stats: ForwarderStats = {
    queries: 0n, cacheHits: 0n, staleAnswers: 0n, coalesced: 0n, forwarded: 0n, answered: 0n, servfail: 0n, formerr: 0n,
    dropped: 0n, blocked: 0n, local: 0n, unexpectedReplies: 0n, mismatchedReplies: 0n, malformedReplies: 0n,
    upstreamTimeouts: 0n, upstreamErrors: 0n, tcpRetries: 0n, fallbacks: 0n, prefetches: 0n,
  };
  #opts: ForwarderOptions;
  readonly #groups = new Map<string, UpstreamGroup>();
  readonly #rotation = new Map<string, number>();
  readonly #pending = new Map<string, Pending<C>>();
  readonly #attempts = new Map<number, Attempt>();
  readonly #timers = new DeadlineHeap<Timer>();
  readonly #ids: QueryIdPool;
  #attemptTimeoutMs: number;
  #queryTimeoutMs: number;
  #nextToken = 1;

  constructor(opts: ForwarderOptions) {
    this.#opts = opts;
    this.#ids = new QueryIdPool(opts.rng);
    this.cache = opts.cache instanceof AnswerCache ? opts.cache : new AnswerCache(opts.cache ?? {});
    for (const g of opts.groups) this.#groups.set(g.name, g);
    this.#attemptTimeoutMs = opts.attemptTimeoutMs ?? 1_000;
    this.#queryTimeoutMs = opts.queryTimeoutMs ?? 4_000;
  }

  /**
   * Applies a reloaded configuration in place (SIGHUP): the next query sees the new routes,
   * groups, policy and timeouts; queries already upstream finish with what they started with.
   * `flushCache` when routes or upstreams changed (cached answers may have come from elsewhere).
   */
  reconfigure(next: ForwarderReconfig, flushCache: boolean): void {
    this.#opts = { ...this.#opts, ...next };
    this.#groups.clear();
    for (const g of this.#opts.groups) this.#groups.set(g.name, g);
    this.#attemptTimeoutMs = this.#opts.attemptTimeoutMs ?? 1_000;
    this.#queryTimeoutMs = this.#opts.queryTimeoutMs ?? 4_000;
    if (flushCache) this.cache.clear();
  }

  /** Number of upstream queries in flight (distinct coalesced questions). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * A client query arrived over `transport`. `bytes` is only borrowed for this call (the UDP edge
   * receives into a reused buffer): anything kept for later — a query waiting on an upstream —
   * keeps its own copy of the question. `refused`: the edge's access control does not serve this
   * client, so a well-formed query is answered REFUSED (route label `refused`).
   */
  handleQuery(bytes: Uint8Array, client: C, transport: ClientTransport, nowMs: number, refused = false): ForwarderAction<C>[] {
    this.stats.queries++;
    const intake = admitQuery(bytes, transport, refused);
    if (intake.type === 'drop') return this.#drop();
    if (intake.type === 'reply') {
      if (intake.formerr) this.stats.formerr++;
      return this.#reply(client, transport, intake.msg, intake.route, intake.bytes, nowMs);
    }
    const { msg, view } = intake;

    const route = this.#opts.routes.lookup(msg.qname);
    if (route.suffix === '' || route.suffix === SINGLE_LABEL_SUFFIX) {
      const special = specialUseAnswer(view, msg.qname, msg.qtype);
      if (special) {
        this.stats.local++;
        return this.#reply(client, transport, msg, 'local', special, nowMs);
      }
    }
    const policy = this.#opts.policy;
    if (policy) {
      const d = policy.decide(msg.qname, msg.qtype);
      if (d.type === 'block' || d.type === 'local') {
        return this.#reply(client, transport, msg, d.type === 'local' ? 'local' : 'blocked', this.#renderDecision(d, view, msg), nowMs, false, d.type === 'block' ? d.list : undefined);
      }
    }
    if (route.group === LOCAL_NXDOMAIN_GROUP) {
      this.stats.local++;
      return this.#reply(client, transport, msg, 'local', buildErrorResponse(view, Rcode.NXDOMAIN), nowMs);
    }

    const key = cacheKey(msg.qname, msg.qtype, msg.qclass, msg.edns?.dnssecOk ?? false, (msg.flags & FLAG_CD) !== 0);
    const hit = this.cache.lookup(key, nowMs);
    if (hit?.type === 'fresh') {
      const blocked = this.#cnameVerdict(hit.entry.cnameTargets);
      if (blocked) return this.#reply(client, transport, msg, 'blocked', this.#renderDecision(blocked, view, msg), nowMs, true, blocked.type === 'block' ? blocked.list : undefined);
      this.stats.cacheHits++;
      const out = this.#reply(client, transport, msg, route.group, this.#fromCache(hit.entry, nowMs, false, view), nowMs, true);
      const group = this.#groups.get(route.group);
      if (group && this.cache.wantsPrefetch(hit.entry, nowMs) && !this.#pending.has(key) && this.#pending.size < (this.#opts.maxPending ?? 4_096)) {
        this.stats.prefetches++;
        this.#launch(key, msg, keptView(view), route, group, undefined, nowMs, out);
      }
      return out;
    }
    if (hit === undefined && this.cache.isFailing(key, nowMs)) {
      this.stats.servfail++;
      return this.#reply(client, transport, msg, route.group, buildErrorResponse(view, Rcode.SERVFAIL, 0, EDE_NO_REACHABLE_AUTHORITY), nowMs);
    }
    const existing = this.#pending.get(key);
    if (existing) {
      if (existing.staleServed && hit?.type === 'stale') {
        this.stats.staleAnswers++;
        return this.#reply(client, transport, msg, route.group, this.#fromCache(hit.entry, nowMs, true, view), nowMs, true);
      }
      if (existing.waiters.length >= (this.#opts.maxWaitersPerQuery ?? 64)) return this.#drop();
      existing.waiters.push({ client, view: keptView(view), transport, startedAtMs: nowMs });
      this.stats.coalesced++;
      return [];
    }
    const group = this.#groups.get(route.group);
    if (!group || this.#pending.size >= (this.#opts.maxPending ?? 4_096)) {
      if (hit?.type === 'stale') {
        this.stats.staleAnswers++;
        return this.#reply(client, transport, msg, route.group, this.#fromCache(hit.entry, nowMs, true, view), nowMs, true);
      }
      this.stats.servfail++;
      return this.#reply(client, transport, msg, route.group, buildErrorResponse(view, Rcode.SERVFAIL, 0, EDE_NO_REACHABLE_AUTHORITY), nowMs);
    }
    const kept = keptView(view);
    const out: ForwarderAction<C>[] = [];
    this.#launch(key, msg, kept, route, group, { client, view: kept, transport, startedAtMs: nowMs }, nowMs, out, hit?.type === 'stale');
    return out;
  }

  /**
   * Starts the upstream query for `key`: for a client (`waiter`), or with nobody waiting to
   * refresh a cache entry before it expires (prefetch).
   */
  #launch(
    key: string, msg: ParsedMessage, kept: ClientView, route: Route, group: UpstreamGroup, waiter: Pending<C>['waiters'][number] | undefined,
    nowMs: number, out: ForwarderAction<C>[], staleCached = false,
  ): void {
    const pending: Pending<C> = {
      key, msg, question: kept.question, route, group, usingFallback: false, waiters: waiter ? [waiter] : [], attempts: [],
      queue: this.#orderFor(group, nowMs), next: 0, deadlineMs: nowMs + this.#queryTimeoutMs,
      staleDeadlineMs: undefined, staleServed: false, softFail: undefined, done: false,
    };
    this.#pending.set(key, pending);
    // Answered queries leave their timers behind (lazy deletion); keep them a bounded multiple.
    if (this.#timers.size > 4 * (this.#pending.size + this.#attempts.size) + 4_096) this.#timers.compact((t, at) => isTimerLive(t, at));
    this.#timers.push(pending.deadlineMs, { kind: 'query', pending: pending as Pending<unknown> });
    if (staleCached) {
      pending.staleDeadlineMs = nowMs + (this.#opts.staleAnswerAfterMs ?? 1_800);
      this.#timers.push(pending.staleDeadlineMs, { kind: 'stale', pending: pending as Pending<unknown> });
    }
    const first = group.strategy === 'parallel-best' ? Math.max(1, this.#opts.parallel ?? 2) : 1;
    for (let i = 0; i < first; i++) if (!this.#startNext(pending, nowMs, out)) break;
    if (pending.attempts.length === 0) this.#exhausted(pending, nowMs, out);
  }

  /** A reply arrived for attempt `token` (from `source` for UDP); `bytes` is borrowed for this call only. */
  handleUpstreamReply(token: number, source: ReplySource | undefined, bytes: Uint8Array, nowMs: number): ForwarderAction<C>[] {
    const attempt = this.#attempts.get(token);
    if (!attempt || !attempt.live) {
      this.stats.unexpectedReplies++;
      return [];
    }
    const up = attempt.upstream;
    if (attempt.transport === 'udp' && (source === undefined || source.port !== up.port || source.address !== up.host)) {
      this.stats.mismatchedReplies++;
      return [];
    }
    const pending = attempt.pending as Pending<C>;
    const p = parseMessage(bytes, false);
    if (!p.ok) {
      this.stats.malformedReplies++;
      return [];
    }
    const m = p.msg;
    const q = pending.msg;
    if ((m.flags & FLAG_QR) === 0 || m.id !== attempt.txid || m.qdcount !== 1 || m.qname !== q.qname || m.qtype !== q.qtype || m.qclass !== q.qclass) {
      this.stats.mismatchedReplies++;
      return [];
    }
    const scan = scanResponse(bytes, m);
    if (!scan) {
      this.stats.malformedReplies++;
      return [];
    }
    const out: ForwarderAction<C>[] = [];
    if (scan.truncated && attempt.transport === 'udp') {
      this.#retire(attempt, out);
      this.stats.tcpRetries++;
      this.#send(pending, up, 'tcp', nowMs, out);
      return out;
    }
    if (scan.rcode === Rcode.SERVFAIL || scan.rcode === Rcode.REFUSED || scan.rcode === Rcode.NOTIMP) {
      this.#upstreamFailed(attempt, nowMs, scan.rcode === Rcode.SERVFAIL ? 'servfail' : 'refused');
      this.#retire(attempt, out);
      // `bytes` is borrowed (the UDP edge may receive into a reused block): keep a copy.
      pending.softFail = { bytes: copyBytes(bytes), msg: m, scan };
      if (!pending.attempts.some((a) => a.live && !a.timedOut)) this.#continue(pending, nowMs, out);
      return out;
    }
    this.health.recordSuccess(up, nowMs - attempt.sentAtMs);
    this.#opts.observer?.upstreamAnswered?.(pending.group.name, up, nowMs - attempt.sentAtMs);
    const targets = scan.cnameRdataOffsets.length > 0 && this.#opts.policy?.decideCnameTargets ? cnameTargets(bytes, scan) : [];
    const blocked = this.#cnameVerdict(targets);
    if (!blocked) this.cache.insert(pending.key, bytes, m, scan, nowMs, targets);
    this.#finish(pending, out, nowMs, (view) =>
      blocked ? this.#renderDecision(blocked, view, pending.msg) : finishCopyForClient(bytes, m.questionEnd, scan.optStart, scan.optEnd, view),
    { upstream: up, list: blocked?.type === 'block' ? blocked.list : undefined });
    return out;
  }

  /** The edge dropped a reply that matched no attempt (unknown ID on its socket). */
  noteUnexpectedReply(): void {
    this.stats.unexpectedReplies++;
  }

  /** The transport of attempt `token` failed (ICMP unreachable, TCP reset, TLS or HTTP error). */
  handleUpstreamError(token: number, nowMs: number): ForwarderAction<C>[] {
    const attempt = this.#attempts.get(token);
    if (!attempt || !attempt.live) return [];
    this.stats.upstreamErrors++;
    this.#upstreamFailed(attempt, nowMs, 'io');
    const out: ForwarderAction<C>[] = [];
    this.#retire(attempt, out);
    const pending = attempt.pending as Pending<C>;
    if (!pending.attempts.some((a) => a.live && !a.timedOut)) this.#continue(pending, nowMs, out);
    return out;
  }

  /** The earliest time `poll` has work, or undefined. */
  nextDeadline(): number | undefined {
    return this.#timers.peek((t, at) => isTimerLive(t, at));
  }

  /** Runs timeouts due at `nowMs`. */
  poll(nowMs: number): ForwarderAction<C>[] {
    const out: ForwarderAction<C>[] = [];
    for (let due = this.#timers.popDue(nowMs); due; due = this.#timers.popDue(nowMs)) {
      const t = due.item;
      if (!isTimerLive(t, due.at)) continue;
      if (t.kind === 'attempt') {
        const a = t.attempt;
        a.timedOut = true;
        this.stats.upstreamTimeouts++;
        this.#upstreamFailed(a, nowMs, 'timeout');
        const pending = a.pending as Pending<C>;
        if (!pending.attempts.some((x) => x.live && !x.timedOut)) this.#continue(pending, nowMs, out);
      } else if (t.kind === 'query') {
        this.#giveUp(t.pending as Pending<C>, nowMs, out);
      } else {
        this.#serveStale(t.pending as Pending<C>, nowMs, out);
      }
    }
    return out;
  }

  /** One response action for a query answered without waiting, reported to the observer. */
  #reply(
    client: C, transport: ClientTransport, msg: ParsedMessage | undefined, route: string, bytes: Uint8Array, nowMs: number,
    cacheHit = false, list?: string,
  ): ForwarderAction<C>[] {
    const obs = this.#opts.observer;
    if (obs?.answered) {
      obs.answered({
        client, transport, qname: msg?.qname ?? '', qtype: msg?.qtype ?? 0, route, rcode: bytes.length > 3 ? bytes[3]! & 0x0f : 0,
        cacheHit, list, upstream: undefined, durationMs: 0,
      });
    }
    return [{ type: 'respond', client, bytes }];
  }

  #drop(): ForwarderAction<C>[] {
    this.stats.dropped++;
    return [];
  }

  #orderFor(group: UpstreamGroup, nowMs: number): readonly UpstreamSpec[] {
    const r = this.#rotation.get(group.name) ?? 0;
    this.#rotation.set(group.name, (r + 1) % 1_000_000);
    return this.health.order(group.upstreams, group.strategy, r, nowMs);
  }

  #startNext(pending: Pending<C>, nowMs: number, out: ForwarderAction<C>[]): boolean {
    const up = pending.queue[pending.next];
    if (up) pending.next++;
    if (!up) return false;
    this.#send(pending, up, up.transport, nowMs, out);
    return true;
  }

  #send(pending: Pending<C>, up: UpstreamSpec, transport: Attempt['transport'], nowMs: number, out: ForwarderAction<C>[]): void {
    const txid = this.#ids.next();
    const token = this.#nextToken++;
    const attempt: Attempt = { token, upstream: up, transport, txid, sentAtMs: nowMs, pending: pending as Pending<unknown>, live: true, timedOut: false };
    pending.attempts.push(attempt);
    this.#attempts.set(token, attempt);
    this.#timers.push(Math.min(nowMs + (pending.group.timeoutMs ?? this.#attemptTimeoutMs), pending.deadlineMs), { kind: 'attempt', attempt });
    this.stats.forwarded++;
    const bytes = buildUpstreamQuery(pending.question, pending.msg.flags, txid, pending.msg.edns?.dnssecOk ?? false);
    out.push({ type: 'send', token, upstream: up, transport, bytes });
  }

  #upstreamFailed(attempt: Attempt, nowMs: number, reason: UpstreamFailureReason): void {
    const group = attempt.pending.group;
    this.health.recordFailure(attempt.upstream, nowMs, group.health);
    this.#opts.observer?.upstreamFailed?.(group.name, attempt.upstream, reason);
  }

  #retire(attempt: Attempt, out: ForwarderAction<C>[]): void {
    if (!attempt.live) return;
    attempt.live = false;
    this.#attempts.delete(attempt.token);
    out.push({ type: 'cancel', token: attempt.token });
  }

  /** Every live attempt failed or timed out: try the next upstream, else give up early. */
  #continue(pending: Pending<C>, nowMs: number, out: ForwarderAction<C>[]): void {
    if (pending.done) return;
    if (this.#startNext(pending, nowMs, out)) return;
    this.#exhausted(pending, nowMs, out);
  }

  #exhausted(pending: Pending<C>, nowMs: number, out: ForwarderAction<C>[]): void {
    const fb = this.#opts.fallbackGroup;
    const fallback = fb === undefined ? undefined : this.#groups.get(fb);
    if (fallback && !pending.route.internalOnly && !pending.usingFallback && fallback !== pending.group) {
      pending.usingFallback = true;
      pending.group = fallback;
      pending.queue = this.#orderFor(fallback, nowMs);
      pending.next = 0;
      this.stats.fallbacks++;
      if (this.#startNext(pending, nowMs, out)) return;
    }
    this.#giveUp(pending, nowMs, out);
  }

  /** No good answer: stale data (RFC 8767), else the held-back SERVFAIL/REFUSED, else SERVFAIL. */
  #giveUp(pending: Pending<C>, nowMs: number, out: ForwarderAction<C>[]): void {
    if (pending.done) return;
    const stale = this.cache.peek(pending.key, nowMs);
    if (stale) {
      this.stats.staleAnswers += BigInt(pending.waiters.length);
      this.#finish(pending, out, nowMs, (view) => this.#fromCache(stale.entry, nowMs, stale.type === 'stale', view), { cacheHit: true });
      return;
    }
    const soft = pending.softFail;
    if (!soft) {
      this.stats.servfail += BigInt(pending.waiters.length);
      this.cache.noteFailure(pending.key, nowMs);
    }
    this.#finish(pending, out, nowMs, (view) =>
      soft ? finishCopyForClient(soft.bytes, soft.msg.questionEnd, soft.scan.optStart, soft.scan.optEnd, view) : buildErrorResponse(view, Rcode.SERVFAIL, 0, EDE_NO_REACHABLE_AUTHORITY),
    );
  }

  /** RFC 8767 §5: the client response timer fired and stale data exists; the refresh goes on. */
  #serveStale(pending: Pending<C>, nowMs: number, out: ForwarderAction<C>[]): void {
    const stale = this.cache.peek(pending.key, nowMs);
    if (!stale) return;
    pending.staleServed = true;
    this.stats.staleAnswers += BigInt(pending.waiters.length);
    for (const w of pending.waiters) {
      const bytes = this.#fromCache(stale.entry, nowMs, true, w.view);
      out.push({ type: 'respond', client: w.client, bytes });
      this.#opts.observer?.answered?.(answeredEvent(pending, w, bytes, nowMs, { cacheHit: true }));
    }
    pending.waiters = [];
  }

  #finish(
    pending: Pending<C>, out: ForwarderAction<C>[], nowMs: number, render: (view: ClientView) => Uint8Array,
    info: AnswerInfo = {},
  ): void {
    pending.done = true;
    this.#pending.delete(pending.key);
    for (const a of pending.attempts) this.#retire(a, out);
    const obs = this.#opts.observer;
    for (const w of pending.waiters) {
      const bytes = render(w.view);
      out.push({ type: 'respond', client: w.client, bytes });
      obs?.answered?.(answeredEvent(pending, w, bytes, nowMs, info));
    }
    this.stats.answered += BigInt(pending.waiters.length);
    pending.waiters = [];
  }

  #fromCache(entry: CacheEntry, nowMs: number, stale: boolean, view: ClientView): Uint8Array {
    if (view.edns === undefined) return finishForClient(this.cache.render(entry, nowMs, stale, true), entry.questionEnd, undefined, undefined, view);
    return finishForClient(this.cache.render(entry, nowMs, stale), entry.questionEnd, entry.optStart, entry.optEnd, view);
  }

  #cnameVerdict(targets: readonly string[]): Exclude<PolicyDecision, { type: 'forward' }> | undefined {
    const check = this.#opts.policy?.decideCnameTargets;
    if (!check || targets.length === 0) return undefined;
    const d = check.call(this.#opts.policy, targets);
    return d.type === 'block' || d.type === 'local' ? d : undefined;
  }

  #renderDecision(d: Exclude<PolicyDecision, { type: 'forward' }>, view: ClientView, msg: ParsedMessage): Uint8Array {
    if (d.type === 'local') {
      this.stats.local++;
      return buildLocalAnswer(view, msg.qname, d.records, d.rcode);
    }
    this.stats.blocked++;
    this.#opts.observer?.blocked?.(d.list);
    return blockedAnswer(view, msg.qname, msg.qtype, this.#opts.blockedAnswer ?? 'null_ip', this.#opts.blockedTtlS ?? 60);
  }
}
