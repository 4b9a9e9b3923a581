import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ManualClock } from '../../src/runtime/clock.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { Forwarder, type ForwarderAction, type ForwarderOptions, type UpstreamGroup } from '../../src/dns/forwarder.js';
import { parseMessage, scanResponse } from '../../src/dns/message.js';
import { RouteTable } from '../../src/dns/router.js';
import type { UpstreamSpec } from '../../src/dns/upstream-spec.js';
import { parseUpstream } from '../support/upstream-text.js';
import type { QueryPolicy } from '../../src/dns/local-answer.js';
import { A, CNAME, rd16, rd32, reply, query } from './wire.js';

const up = (t: string): UpstreamSpec => {
  const r = parseUpstream(t);
  if (!r.ok) throw new Error(r.error);
  return r.spec;
};
const PUB1 = up('127.0.0.1:5301');
const PUB2 = up('127.0.0.2:5301');
const INT1 = up('127.0.0.3:5302');

type Act = ForwarderAction<string>;
const sends = (a: Act[]) => a.filter((x): x is Extract<Act, { type: 'send' }> => x.type === 'send');
const responds = (a: Act[]) => a.filter((x): x is Extract<Act, { type: 'respond' }> => x.type === 'respond');
const from = (s: UpstreamSpec) => ({ address: s.host, port: s.port });
const rcode = (b: Uint8Array) => rd16(b, 2) & 0xf;

function setup(extra: Partial<ForwarderOptions> = {}, groups?: UpstreamGroup[]) {
  const clock = new ManualClock();
  const fwd = new Forwarder<string>({
    groups: groups ?? [
      { name: 'public', upstreams: [PUB1, PUB2], strategy: 'failover' },
      { name: 'internal', upstreams: [INT1], strategy: 'failover' },
    ],
    routes: new RouteTable([{ suffix: 'home.lan', group: 'internal', internalOnly: true }], 'public'),
    rng: new SeededRng(7),
    ...extra,
  });
  return { clock, fwd, now: () => clock.monotonicMs() };
}

/** The upstream's answer to a forwarded query (`send.bytes`), as a real server would build it. */
function answerTo(send: { bytes: Uint8Array }, ip = '192.0.2.1', ttl = 300, o: { tc?: boolean; rcode?: number; id?: number; name?: string } = {}) {
  const p = parseMessage(send.bytes);
  if (!p.ok) throw new Error('parse');
  const name = o.name ?? p.msg.qname;
  return reply(name, p.msg.qtype, { id: o.id ?? p.msg.id, tc: o.tc, rcode: o.rcode, answers: o.rcode ? [] : [A(name, ip, ttl)], edns: true });
}

describe('Forwarder: forwarding and cache', () => {
  it('only borrows the query bytes: a reused receive buffer cannot corrupt queries waiting on an upstream', () => {
    const { fwd, now } = setup();
    // One buffer reused for every datagram, as the batched UDP edge does.
    const buf = new Uint8Array(512);
    const lend = (q: Uint8Array) => {
      buf.set(q);
      return buf.subarray(0, q.length);
    };
    const first = sends(fwd.handleQuery(lend(query('Mixed.Example.com', 1, { id: 0x0101 })), 'c1', 'udp', now()));
    expect(first).toHaveLength(1);
    const upstreamQuery = Uint8Array.from(first[0]!.bytes);
    buf.fill(0xee);
    // Coalesced onto the same upstream query, then the buffer is overwritten again.
    expect(fwd.handleQuery(lend(query('MIXED.example.COM', 1, { id: 0x0202 })), 'c2', 'udp', now())).toEqual([]);
    buf.fill(0x77);
    expect(first[0]!.bytes).toEqual(upstreamQuery);
    const r = responds(fwd.handleUpstreamReply(first[0]!.token, from(PUB1), answerTo(first[0]!), now()));
    expect(r.map((x) => [x.client, rd16(x.bytes, 0)])).toEqual([['c1', 0x0101], ['c2', 0x0202]]);
    // Each answer echoes its own client's question, case preserved (0x20).
    expect(Buffer.from(r[0]!.bytes.subarray(13, 18)).toString()).toBe('Mixed');
    expect(Buffer.from(r[1]!.bytes.subarray(13, 18)).toString()).toBe('MIXED');
  });

  it('forwards with a fresh ID, answers with the client ID, then answers from cache with decremented TTLs', () => {
    const { clock, fwd, now } = setup();
    const s = sends(fwd.handleQuery(query('www.example.com', 1, { id: 0x1111 }), 'c1', 'udp', now()));
    expect(s).toHaveLength(1);
    expect(s[0]!.upstream).toBe(PUB1);
    expect(rd16(s[0]!.bytes, 0)).not.toBe(0x1111);
    const out = fwd.handleUpstreamReply(s[0]!.token, from(PUB1), answerTo(s[0]!), now());
    const r = responds(out);
    expect(r.map((x) => [x.client, rd16(x.bytes, 0)])).toEqual([['c1', 0x1111]]);
    expect(out.filter((x) => x.type === 'cancel')).toHaveLength(1);
    clock.advance(100_000);
    const hit = responds(fwd.handleQuery(query('WWW.example.com', 1, { id: 0x2222 }), 'c2', 'udp', now()));
    expect(hit).toHaveLength(1);
    const p = parseMessage(hit[0]!.bytes);
    if (!p.ok) throw new Error('parse');
    expect(rd32(hit[0]!.bytes, scanResponse(hit[0]!.bytes, p.msg)!.ttlOffsets[0]!)).toBe(200);
    expect(Buffer.from(hit[0]!.bytes.subarray(13, 16)).toString()).toBe('WWW');
    expect(fwd.stats.cacheHits).toBe(1n);
  });

  it('prefetch: a popular entry hit in its last tenth is refreshed in the background, once', () => {
    const { clock, fwd, now } = setup({ cache: { prefetch: true } });
    const s = sends(fwd.handleQuery(query('pop.example', 1, { id: 1 }), 'c1', 'udp', now()));
    fwd.handleUpstreamReply(s[0]!.token, from(PUB1), answerTo(s[0]!, '192.0.2.1', 100), now());
    // Two hits early in the lifetime: answered from cache, nothing sent upstream.
    for (const id of [2, 3]) expect(sends(fwd.handleQuery(query('pop.example', 1, { id }), 'c', 'udp', now()))).toEqual([]);
    clock.advance(91_000); // 9 s of 100 left
    const out = fwd.handleQuery(query('pop.example', 1, { id: 4 }), 'c4', 'udp', now());
    expect(responds(out).map((x) => [x.client, rd16(x.bytes, 0)])).toEqual([['c4', 4]]); // answered from cache at once
    const pre = sends(out);
    expect(pre).toHaveLength(1); // and refreshed upstream
    expect(fwd.stats.prefetches).toBe(1n);
    expect(sends(fwd.handleQuery(query('pop.example', 1, { id: 5 }), 'c5', 'udp', now()))).toEqual([]); // only once
    // The refresh answers nobody but renews the entry: 200 s past the old expiry it is still fresh.
    expect(responds(fwd.handleUpstreamReply(pre[0]!.token, from(PUB1), answerTo(pre[0]!, '192.0.2.9', 300), now()))).toEqual([]);
    clock.advance(200_000);
    const hit = responds(fwd.handleQuery(query('pop.example', 1, { id: 6 }), 'c6', 'udp', now()));
    expect(hit).toHaveLength(1);
    expect([...hit[0]!.bytes.subarray(-4)]).toEqual([192, 0, 2, 9]);
  });

  it('prefetch is off by default, and never for an entry hit only once', () => {
    const off = setup();
    const s = sends(off.fwd.handleQuery(query('x.example', 1, { id: 1 }), 'c1', 'udp', off.now()));
    off.fwd.handleUpstreamReply(s[0]!.token, from(PUB1), answerTo(s[0]!, '192.0.2.1', 100), off.now());
    for (const id of [2, 3]) off.fwd.handleQuery(query('x.example', 1, { id }), 'c', 'udp', off.now());
    off.clock.advance(95_000);
    expect(sends(off.fwd.handleQuery(query('x.example', 1, { id: 4 }), 'c', 'udp', off.now()))).toEqual([]);
    const on = setup({ cache: { prefetch: true } });
    const t = sends(on.fwd.handleQuery(query('y.example', 1, { id: 1 }), 'c1', 'udp', on.now()));
    on.fwd.handleUpstreamReply(t[0]!.token, from(PUB1), answerTo(t[0]!, '192.0.2.1', 100), on.now());
    on.clock.advance(95_000);
    expect(sends(on.fwd.handleQuery(query('y.example', 1, { id: 2 }), 'c', 'udp', on.now()))).toEqual([]); // first hit
  });

  it('coalesces identical queries in flight and answers each client with its own ID', () => {
    const { fwd, now } = setup();
    const s = sends(fwd.handleQuery(query('a.example', 1, { id: 1 }), 'c1', 'udp', now()));
    expect(fwd.handleQuery(query('A.EXAMPLE', 1, { id: 2 }), 'c2', 'udp', now())).toEqual([]);
    expect(sends(fwd.handleQuery(query('a.example', 28, { id: 3 }), 'c3', 'udp', now()))).toHaveLength(1);
    const r = responds(fwd.handleUpstreamReply(s[0]!.token, from(PUB1), answerTo(s[0]!), now()));
    expect(r.map((x) => [x.client, rd16(x.bytes, 0)])).toEqual([['c1', 1], ['c2', 2]]);
  });

  it('ignores replies from the wrong address, port, ID or question and counts them (RFC 5452)', () => {
    const { fwd, now } = setup();
    const s = sends(fwd.handleQuery(query('a.example', 1, { id: 1 }), 'c1', 'udp', now()))[0]!;
    const good = answerTo(s);
    expect(fwd.handleUpstreamReply(s.token, { address: '127.0.0.9', port: PUB1.port }, good, now())).toEqual([]);
    expect(fwd.handleUpstreamReply(s.token, { address: PUB1.host, port: 9999 }, good, now())).toEqual([]);
    expect(fwd.handleUpstreamReply(s.token, from(PUB1), answerTo(s, '6.6.6.6', 300, { id: (rd16(s.bytes, 0) + 1) & 0xffff }), now())).toEqual([]);
    expect(fwd.handleUpstreamReply(s.token, from(PUB1), answerTo(s, '6.6.6.6', 300, { name: 'b.example' }), now())).toEqual([]);
    expect(fwd.handleUpstreamReply(s.token + 100, from(PUB1), good, now())).toEqual([]);
    expect(fwd.stats.mismatchedReplies).toBe(4n);
    expect(fwd.stats.unexpectedReplies).toBe(1n);
    const r = responds(fwd.handleUpstreamReply(s.token, from(PUB1), good, now()));
    expect(r).toHaveLength(1);
  });

  it('fails over to the next upstream on timeout and then prefers the healthy one', () => {
    const { clock, fwd, now } = setup({ attemptTimeoutMs: 500 });
    const s1 = sends(fwd.handleQuery(query('a.example', 1), 'c1', 'udp', now()))[0]!;
    expect(s1.upstream).toBe(PUB1);
    expect(fwd.nextDeadline()).toBe(now() + 500);
    clock.advance(500);
    const s2 = sends(fwd.poll(now()));
    expect(s2.map((x) => x.upstream)).toEqual([PUB2]);
    expect(responds(fwd.handleUpstreamReply(s2[0]!.token, from(PUB2), answerTo(s2[0]!), now()))).toHaveLength(1);
    const s3 = sends(fwd.handleQuery(query('b.example', 1), 'c1', 'udp', now()));
    expect(s3[0]!.upstream).toBe(PUB2); // PUB1 is in backoff
  });

  it('answers SERVFAIL at once when every upstream of the route failed', () => {
    const { fwd, now } = setup();
    const s1 = sends(fwd.handleQuery(query('a.example', 1, { id: 5 }), 'c1', 'udp', now()))[0]!;
    const s2 = sends(fwd.handleUpstreamError(s1.token, now()))[0]!;
    expect(s2.upstream).toBe(PUB2);
    const r = responds(fwd.handleUpstreamError(s2.token, now()));
    expect(r.map((x) => [rd16(x.bytes, 0), rcode(x.bytes)])).toEqual([[5, 2]]);
    expect(fwd.pendingCount).toBe(0);
    expect(fwd.nextDeadline()).toBeUndefined();
  });

  it('remembers a question whose upstreams all failed for servfailTtlS, then asks again', () => {
    const { clock, fwd, now } = setup({ cache: { servfailTtlS: 5 } });
    const s1 = sends(fwd.handleQuery(query('a.example', 1), 'c1', 'udp', now()))[0]!;
    fwd.handleUpstreamError(sends(fwd.handleUpstreamError(s1.token, now()))[0]!.token, now());
    const again = fwd.handleQuery(query('a.example', 1), 'c1', 'udp', now());
    expect([sends(again).length, responds(again).map((x) => rcode(x.bytes))]).toEqual([0, [2]]);
    clock.advance(5_000);
    expect(sends(fwd.handleQuery(query('a.example', 1), 'c1', 'udp', now()))).toHaveLength(1);
  });

  it('tries the next upstream after a SERVFAIL and relays it only when none is left', () => {
    const { fwd, now } = setup();
    const s1 = sends(fwd.handleQuery(query('a.example', 1), 'c1', 'udp', now()))[0]!;
    const s2 = sends(fwd.handleUpstreamReply(s1.token, from(PUB1), answerTo(s1, '', 0, { rcode: 2 }), now()))[0]!;
    expect(s2.upstream).toBe(PUB2);
    const r = responds(fwd.handleUpstreamReply(s2.token, from(PUB2), answerTo(s2, '', 0, { rcode: 5 }), now()));
    expect(r.map((x) => rcode(x.bytes))).toEqual([5]);
  });

  it('gives up at the query deadline even while upstreams stay silent', () => {
    const { clock, fwd, now } = setup({ attemptTimeoutMs: 10_000, queryTimeoutMs: 3_000 });
    sends(fwd.handleQuery(query('a.example', 1), 'c1', 'udp', now()));
    clock.advance(3_000);
    expect(responds(fwd.poll(now())).map((x) => rcode(x.bytes))).toEqual([2]);
  });

  it('never falls back from an internal-only route, but does from a public one', () => {
    const { fwd, now } = setup({ fallbackGroup: 'internal' }, [
      { name: 'public', upstreams: [PUB1], strategy: 'failover' },
      { name: 'internal', upstreams: [INT1], strategy: 'failover' },
    ]);
    const si = sends(fwd.handleQuery(query('nas.home.lan', 1), 'c1', 'udp', now()))[0]!;
    expect(si.upstream).toBe(INT1);
    const ri = fwd.handleUpstreamError(si.token, now());
    expect(sends(ri)).toHaveLength(0);
    expect(responds(ri).map((x) => rcode(x.bytes))).toEqual([2]);
    const sp = sends(fwd.handleQuery(query('example.org', 1), 'c1', 'udp', now()))[0]!;
    expect(sends(fwd.handleUpstreamError(sp.token, now())).map((x) => x.upstream)).toEqual([INT1]);
  });

  it('retries over TCP when the UDP answer is truncated', () => {
    const { fwd, now } = setup();
    const s1 = sends(fwd.handleQuery(query('big.example', 16), 'c1', 'udp', now()))[0]!;
    const out = fwd.handleUpstreamReply(s1.token, from(PUB1), answerTo(s1, '192.0.2.1', 300, { tc: true }), now());
    const s2 = sends(out);
    expect(s2.map((x) => [x.upstream, x.transport])).toEqual([[PUB1, 'tcp']]);
    expect(out).toContainEqual({ type: 'cancel', token: s1.token });
    expect(responds(fwd.handleUpstreamReply(s2[0]!.token, undefined, answerTo(s2[0]!), now()))).toHaveLength(1);
    expect(fwd.stats.tcpRetries).toBe(1n);
  });

  it('serves stale data with TTL 30 when all upstreams fail, and after the client response timer', () => {
    const { clock, fwd, now } = setup({ cache: { staleMaxS: 3600 } });
    const s = sends(fwd.handleQuery(query('a.example', 1), 'c1', 'udp', now()))[0]!;
    fwd.handleUpstreamReply(s.token, from(PUB1), answerTo(s, '192.0.2.1', 60), now());
    clock.advance(120_000);
    const s1 = sends(fwd.handleQuery(query('a.example', 1, { id: 9 }), 'c1', 'udp', now()))[0]!;
    const s2 = sends(fwd.handleUpstreamError(s1.token, now()))[0]!;
    const r = responds(fwd.handleUpstreamError(s2.token, now()));
    expect(r).toHaveLength(1);
    const p = parseMessage(r[0]!.bytes);
    if (!p.ok) throw new Error('parse');
    expect([rd16(r[0]!.bytes, 0), rcode(r[0]!.bytes), rd32(r[0]!.bytes, scanResponse(r[0]!.bytes, p.msg)!.ttlOffsets[0]!)]).toEqual([9, 0, 30]);
    // Slow upstreams: the stale answer goes out after 1.8 s and the refresh continues.
    clock.advance(1_000);
    const s3 = sends(fwd.handleQuery(query('a.example', 1, { id: 10 }), 'c1', 'udp', now()))[0]!;
    clock.advance(1_800);
    expect(responds(fwd.poll(now())).map((x) => rd16(x.bytes, 0))).toEqual([10]);
    expect(fwd.pendingCount).toBe(1);
    fwd.handleUpstreamReply(s3.token, from(s3.upstream), answerTo(s3, '192.0.2.2', 60), now());
    const fresh = responds(fwd.handleQuery(query('a.example', 1), 'c1', 'udp', now()));
    expect(Array.from(fresh[0]!.bytes.subarray(fresh[0]!.bytes.length - 4))).toEqual([192, 0, 2, 2]);
  });

  it('races two upstreams with parallel-best and rotates with round-robin', () => {
    const g = (strategy: 'parallel-best' | 'round-robin'): UpstreamGroup[] => [{ name: 'public', upstreams: [PUB1, PUB2], strategy }];
    const pb = setup({}, g('parallel-best'));
    expect(sends(pb.fwd.handleQuery(query('a.example', 1), 'c', 'udp', pb.now()))).toHaveLength(2);
    const rr = setup({}, g('round-robin'));
    const first = ['a', 'b', 'c', 'd'].map((n) => sends(rr.fwd.handleQuery(query(`${n}.example`, 1), 'c', 'udp', rr.now()))[0]!.upstream);
    expect(first).toEqual([PUB1, PUB2, PUB1, PUB2]);
  });
});

describe('Forwarder: malformed and special queries', () => {
  it('answers FORMERR, NOTIMP, REFUSED, BADVERS, or drops, as the checklist says', () => {
    const { fwd, now } = setup();
    expect(fwd.handleQuery(Uint8Array.of(1, 2, 3), 'c', 'udp', now())).toEqual([]);
    const qr = query('a.example', 1, { flags: 0x8100 });
    expect(fwd.handleQuery(qr, 'c', 'udp', now())).toEqual([]);
    const bad = Uint8Array.from([...query('a.example', 1).subarray(0, 14)]);
    expect(responds(fwd.handleQuery(bad, 'c', 'udp', now())).map((x) => rcode(x.bytes))).toEqual([1]);
    expect(responds(fwd.handleQuery(query('a.example', 1, { flags: 0x2100 }), 'c', 'udp', now())).map((x) => rcode(x.bytes))).toEqual([4]);
    expect(responds(fwd.handleQuery(query('example', 252), 'c', 'tcp', now())).map((x) => rcode(x.bytes))).toEqual([5]);
    const badvers = responds(fwd.handleQuery(query('a.example', 1, { edns: { version: 1 } }), 'c', 'udp', now()))[0]!.bytes;
    expect(badvers[badvers.length - 6]).toBe(1); // OPT EXTENDED-RCODE 1 = BADVERS (16)
  });

  it('answers localhost and invalid locally', () => {
    const { fwd, now } = setup();
    const lh = responds(fwd.handleQuery(query('localhost', 1), 'c', 'udp', now()))[0]!.bytes;
    expect(Array.from(lh.subarray(lh.length - 4))).toEqual([127, 0, 0, 1]);
    expect(rcode(responds(fwd.handleQuery(query('x.invalid', 1), 'c', 'udp', now()))[0]!.bytes)).toBe(3);
  });

  it('renders policy decisions and checks CNAME targets of upstream answers', () => {
    const policy: QueryPolicy = {
      decide: (q) => (q === 'ads.example' ? { type: 'block', list: 'test' } : q === 'nas.home.lan'
        ? { type: 'local', rcode: 0, records: [{ name: 'nas.home.lan', type: 1, ttl: 60, rdata: Uint8Array.of(10, 0, 0, 9) }] } : { type: 'forward' }),
      decideCnameTargets: (t) => (t.includes('tracker.example') ? { type: 'block', list: 'cname' } : { type: 'forward' }),
    };
    const { fwd, now } = setup({ policy });
    const blocked = responds(fwd.handleQuery(query('ads.example', 1), 'c', 'udp', now()))[0]!.bytes;
    expect(Array.from(blocked.subarray(blocked.length - 4))).toEqual([0, 0, 0, 0]);
    const local = responds(fwd.handleQuery(query('nas.home.lan', 1), 'c', 'udp', now()))[0]!.bytes;
    expect(Array.from(local.subarray(local.length - 4))).toEqual([10, 0, 0, 9]);
    const s = sends(fwd.handleQuery(query('www.example', 1), 'c', 'udp', now()))[0]!;
    const cloaked = reply('www.example', 1, { id: rd16(s.bytes, 0), answers: [CNAME('www.example', 'tracker.example'), A('tracker.example', '192.0.2.7')] });
    const r = responds(fwd.handleUpstreamReply(s.token, from(PUB1), cloaked, now()))[0]!.bytes;
    expect(Array.from(r.subarray(r.length - 4))).toEqual([0, 0, 0, 0]);
    expect(fwd.stats.blocked).toBe(2n);
  });

  it('never throws on arbitrary client queries or upstream replies', () => {
    const { clock, fwd, now } = setup({ cache: { staleMaxS: 10 } });
    const base = query('a.example', 1, { edns: {} });
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.array(fc.tuple(fc.nat(base.length - 1), fc.nat(255)), { maxLength: 6 }).map((m) => {
          const b = Uint8Array.from(base);
          for (const [i, v] of m) b[i] = v;
          return b;
        })),
        fc.uint8Array({ maxLength: 300 }),
        fc.nat(3000),
        (q, r, dt) => {
          const acts = fwd.handleQuery(q, 'c', 'udp', now());
          for (const s of sends(acts)) {
            const mutated = Uint8Array.from(answerTo(s));
            if (r.length > 0) mutated[r[0]! % mutated.length] = r[1 % r.length] ?? 0;
            fwd.handleUpstreamReply(s.token, from(s.upstream), mutated, now());
            fwd.handleUpstreamReply(s.token, from(s.upstream), r, now());
          }
          clock.advance(dt);
          fwd.poll(now());
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('Forwarder: observer and per-group settings', () => {
  it('reports answers, upstream latency, failures and blocks', () => {
    const events: string[] = [];
    const observer = {
      answered: (e: { route: string; rcode: number; cacheHit: boolean; durationMs: number; upstream: UpstreamSpec | undefined }) =>
        events.push(`answered ${e.route} ${e.rcode} ${e.cacheHit ? 'hit' : 'miss'} ${e.durationMs} ${e.upstream?.id ?? '-'}`),
      upstreamAnswered: (g: string, u: UpstreamSpec, ms: number) => events.push(`up ${g} ${u.id} ${ms}`),
      upstreamFailed: (g: string, u: UpstreamSpec, r: string) => events.push(`fail ${g} ${u.id} ${r}`),
      blocked: (l: string) => events.push(`blocked ${l}`),
    };
    const policy: QueryPolicy = { decide: (q) => (q === 'ads.example' ? { type: 'block', list: 'oisd' } : { type: 'forward' }) };
    const { clock, fwd, now } = setup({ observer, policy, attemptTimeoutMs: 100 });
    const s1 = sends(fwd.handleQuery(query('a.example', 1), 'c', 'udp', now()))[0]!;
    clock.advance(100);
    const s2 = sends(fwd.poll(now()))[0]!;
    clock.advance(5);
    fwd.handleUpstreamReply(s2.token, from(PUB2), answerTo(s2), now());
    fwd.handleQuery(query('a.example', 1), 'c', 'udp', now());
    fwd.handleQuery(query('ads.example', 1), 'c', 'udp', now());
    expect(s1.upstream).toBe(PUB1);
    expect(events).toEqual([
      'fail public 127.0.0.1:5301 timeout',
      'up public 127.0.0.2:5301 5',
      'answered public 0 miss 105 127.0.0.2:5301',
      'answered public 0 hit 0 -',
      'blocked oisd',
      'answered blocked 0 miss 0 -',
    ]);
  });

  it('uses the group timeout and skips an upstream only after max_failures in a row', () => {
    const groups: UpstreamGroup[] = [{ name: 'public', upstreams: [PUB1, PUB2], strategy: 'failover', timeoutMs: 50, health: { maxFailures: 2, retryAfterMs: 10_000 } }];
    const { clock, fwd, now } = setup({ attemptTimeoutMs: 5_000 }, groups);
    const first = (n: string) => sends(fwd.handleQuery(query(n, 1), 'c', 'udp', now()))[0]!;
    const a = first('a.example');
    expect(fwd.nextDeadline()).toBe(now() + 50);
    fwd.handleUpstreamError(a.token, now());
    expect(first('b.example').upstream).toBe(PUB1); // one failure: still first
    const c = first('c.example');
    fwd.handleUpstreamError(c.token, now());
    expect(first('d.example').upstream).toBe(PUB2); // two in a row: skipped
    clock.advance(10_000);
    expect(first('e.example').upstream).toBe(PUB1);
  });
});
