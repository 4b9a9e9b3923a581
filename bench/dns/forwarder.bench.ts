/**
 * Micro-benchmarks of the DNS hot path (no sockets): parsing a query, a route lookup, and a
 * whole cache hit through the sans-IO forwarder (parse → route → cache → render → client ID).
 * Outputs are cross-validated against an independently built expected answer before timing.
 */
import { bench, crossValidate } from '../harness.js';
import { ManualClock } from '../../src/runtime/clock.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { Forwarder } from '../../src/dns/forwarder.js';
import { parseMessage } from '../../src/dns/message.js';
import { RouteTable } from '../../src/dns/router.js';
import { parseUpstream } from '../../test/support/upstream-text.js';
import { A, query, reply } from '../../test/dns/wire.js';
import { compileFilter } from '../../src/dns/blocklist.js';
import { createPolicy } from '../../src/dns/policy.js';
import { createDnsMetrics } from '../../src/dns/metrics.js';
import { createRegistry } from '../../src/runtime/metrics.js';

const up = parseUpstream('127.0.0.1:5300');
if (!up.ok) throw new Error(up.error);
const clock = new ManualClock();
const routes = new RouteTable([{ suffix: 'home.lan', group: 'g', internalOnly: true }, { suffix: '10.in-addr.arpa', group: 'g', internalOnly: true }], 'g');
const fwd = new Forwarder<number>({ groups: [{ name: 'g', upstreams: [up.spec], strategy: 'failover' }], routes, rng: new SeededRng(1) });

// The same with what `tsplane dns` runs per query: a policy over a 100 000-rule blocklist and
// Prometheus counters through the observer.
const filter = compileFilter([{ name: 'list', text: Array.from({ length: 100_000 }, (_, i) => `0.0.0.0 ad${i}.tracker.example`).join('\n') }]);
const policy = createPolicy({ blocklist: filter.block, allowlist: filter.allow, cnameCloaking: true });
const metrics = createDnsMetrics(createRegistry());
const full = new Forwarder<number>({
  groups: [{ name: 'g', upstreams: [up.spec], strategy: 'failover' }], routes, rng: new SeededRng(1), policy,
  observer: { answered: (e) => metrics.query(e.route, e.rcode, e.cacheHit) },
});

const names = Array.from({ length: 1000 }, (_, i) => `n${i}.bench.lan`);
for (const n of names) {
  const s = fwd.handleQuery(query(n, 1), 0, 'udp', clock.monotonicMs()).find((a) => a.type === 'send');
  if (s?.type !== 'send') throw new Error('no send');
  fwd.handleUpstreamReply(s.token, { address: '127.0.0.1', port: 5300 }, reply(n, 1, { id: (s.bytes[0]! << 8) | s.bytes[1]!, answers: [A(n, '10.0.0.1', 86400)], edns: true }), clock.monotonicMs());
  const s2 = full.handleQuery(query(n, 1), 0, 'udp', clock.monotonicMs()).find((a) => a.type === 'send');
  if (s2?.type !== 'send') throw new Error('no send');
  full.handleUpstreamReply(s2.token, { address: '127.0.0.1', port: 5300 }, reply(n, 1, { id: (s2.bytes[0]! << 8) | s2.bytes[1]!, answers: [A(n, '10.0.0.1', 86400)], edns: true }), clock.monotonicMs());
}
const plain = names.map((n, i) => query(n, 1, { id: i }));
const edns = names.map((n, i) => query(n, 1, { id: i, edns: {} }));

const hitOut = fwd.handleQuery(plain[7]!, 0, 'udp', clock.monotonicMs())[0];
if (hitOut?.type !== 'respond') throw new Error('no hit');
crossValidate('cache hit (no EDNS)', hitOut.bytes, Uint8Array.from([...reply(names[7]!, 1, { id: 7, answers: [A(names[7]!, '10.0.0.1', 86400)] })]));

let i = 0;
bench('dns parse query (header+question+OPT)', () => {
  parseMessage(edns[i++ % 1000]!);
});
bench('dns route lookup (3 labels, 2 routes)', () => {
  routes.lookup(names[i++ % 1000]!);
});
bench('dns forwarder cache hit, client without EDNS', () => {
  fwd.handleQuery(plain[i++ % 1000]!, 0, 'udp', clock.monotonicMs());
});
bench('dns forwarder cache hit, client with EDNS', () => {
  fwd.handleQuery(edns[i++ % 1000]!, 0, 'udp', clock.monotonicMs());
});
bench('dns forwarder cache hit + 100k-rule policy + metrics', () => {
  full.handleQuery(plain[i++ % 1000]!, 0, 'udp', clock.monotonicMs());
});
