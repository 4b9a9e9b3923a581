/**
 * Blocklist parse and match speed on synthetic lists (no I/O): parse time of a 100k-line hosts
 * file and adblock list, matcher lookups/s with 100k and 1M rules (half hits, half misses,
 * 3–5 label names), build time and heap for 1M rules. Results are cross-validated against a
 * slow reference matcher before anything is timed.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { bench, crossValidate } from '../harness.js';
import { compileFilter, parseBlocklist, type BlocklistMatcher } from '../../src/dns/blocklist.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Deterministic PRNG (mulberry32) so every run sees the same lists. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TLDS = ['com', 'net', 'org', 'io', 'example'];
function syntheticNames(n: number, seed: number): string[] {
  const r = prng(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const label = (len: number) => Array.from({ length: len }, () => String.fromCharCode(97 + Math.floor(r() * 26))).join('');
    const depth = 1 + Math.floor(r() * 2);
    const parts = Array.from({ length: depth }, () => label(4 + Math.floor(r() * 8)));
    out.push(`${parts.join('.')}-${i.toString(36)}.${TLDS[i % TLDS.length]}`);
  }
  return out;
}

function hostsText(names: string[]): string {
  return `# synthetic hosts list\n${names.map((n) => `0.0.0.0 ${n}`).join('\n')}\n`;
}
function adblockText(names: string[]): string {
  return `[Adblock Plus 2.0]\n! synthetic\n${names.map((n) => `||${n}^`).join('\n')}\n`;
}

/** Queries: half below a listed name (hit via subdomain for adblock, exact for hosts), half unlisted. */
function queries(listed: string[], n: number, seed: number, sub: boolean): string[] {
  const r = prng(seed);
  const misses = syntheticNames(n, seed + 1).map((x) => `www.${x}.miss`);
  const q = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? (sub ? `cdn.x.${listed[Math.floor(r() * listed.length)]!}` : listed[Math.floor(r() * listed.length)]!) : misses[i]!));
  // Flat strings decoded from bytes, as a qname from the wire would be (not concatenations).
  const dec = new TextDecoder();
  return q.map((s) => dec.decode(new TextEncoder().encode(s)));
}

function referenceMatch(exact: Set<string>, suffixes: Set<string>, q: string): boolean {
  if (exact.has(q)) return true;
  for (const s of suffixes) if (q === s || q.endsWith(`.${s}`)) return true;
  return false;
}

function check(what: string, m: BlocklistMatcher, qs: string[], exact: Set<string>, suffixes: Set<string>): void {
  // The reference is O(rules) per query: validate on a sample against a 2k-rule slice.
  const sample = qs.slice(0, 200);
  const got = Uint8Array.from(sample, (q) => (m.match(q) !== undefined ? 1 : 0));
  const want = Uint8Array.from(sample, (q) => (referenceMatch(exact, suffixes, q) ? 1 : 0));
  crossValidate(what, got, want);
  if (!got.includes(1) || !got.includes(0)) throw new Error(`${what}: sample has no hits or no misses`);
}

function heapMiB(): number {
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

// --- 100k rules ---
const N = 100_000;
const names100k = syntheticNames(N, 1);
const hosts100k = hostsText(names100k);
const abp100k = adblockText(names100k);

const sink = () => true;
const parsedHosts = parseBlocklist(hosts100k, sink);
if (parsedHosts.rules !== N) throw new Error(`hosts parse: expected ${N} rules, got ${parsedHosts.rules}`);
const parsedAbp = parseBlocklist(abp100k, sink);
if (parsedAbp.rules !== N) throw new Error(`adblock parse: expected ${N} rules, got ${parsedAbp.rules}`);

/** Median wall time of `runs` calls (for work too slow for the harness's 200-call warm-up). */
function timeMs(name: string, fn: () => void, runs = 5): number {
  fn(); // warm-up
  const t: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  const median = t[Math.floor(runs / 2)]!;
  process.stdout.write(`${name.padEnd(48)} ${median.toFixed(1).padStart(12)} ms (runs ${t.map((x) => x.toFixed(0)).join(', ')})\n`);
  process.stdout.write(`BENCH_JSON ${JSON.stringify({ name, msMedian: median, runsMs: t })}\n`);
  return median;
}

timeMs('blocklist parse hosts 100k lines', () => void parseBlocklist(hosts100k, sink));
timeMs('blocklist parse adblock 100k lines', () => void parseBlocklist(abp100k, sink));
timeMs('blocklist compile hosts 100k (parse + build)', () => void compileFilter([{ name: 'h', text: hosts100k }]));

const hostsMatcher = compileFilter([{ name: 'h', text: hosts100k }]).block;
const abpMatcher = compileFilter([{ name: 'a', text: abp100k }]).block;
const qHosts = queries(names100k, 65_536, 7, false);
const qAbp = queries(names100k, 65_536, 8, true);
const refSlice = new Set(names100k.slice(0, 2000));
// Restrict validation queries to the slice so the reference (which only knows the slice) agrees.
const sliceHosts = queries([...refSlice], 400, 9, false);
const sliceAbp = queries([...refSlice], 400, 10, true);
check('hosts 100k', hostsMatcher, sliceHosts, refSlice, new Set());
check('adblock 100k', abpMatcher, sliceAbp, new Set(), refSlice);

// Every timed call feeds `hits`, which is checked afterwards, so the JIT cannot drop the work.
let hits = 0;
const count = (r: string | undefined): void => {
  if (r !== undefined) hits++;
};
// Floor for scale: one Map.get of the whole name (what an exact-only string set costs).
const floorMap = new Map(names100k.map((n) => [n, 'h']));
let i = 0;
bench('floor: Map.get(qname) 100k names (50% hit)', () => count(floorMap.get(qHosts[i++ & 65_535]!)), { minMs: 400 });
i = 0;
bench('blocklist match 100k hosts rules (50% hit)', () => count(hostsMatcher.match(qHosts[i++ & 65_535]!)), { minMs: 400 });
i = 0;
bench('blocklist match 100k adblock rules (50% hit)', () => count(abpMatcher.match(qAbp[i++ & 65_535]!)), { minMs: 400 });

/** The previous design, kept as a comparator: a Map keyed by each label suffix (one slice + lookup per label). */
class SuffixMapMatcher {
  readonly rules = new Map<string, number>();
  match(q: string): string | undefined {
    const own = this.rules.get(q);
    if (own !== undefined && (own & 1) !== 0) return 'x';
    for (let dot = q.indexOf('.'); dot >= 0; dot = q.indexOf('.', dot + 1)) {
      const v = this.rules.get(q.slice(dot + 1));
      if (v !== undefined && (v & 2) !== 0) return 'x';
    }
    return undefined;
  }
}
const suffixMap = new SuffixMapMatcher();
parseBlocklist(abp100k, (n, sc) => {
  suffixMap.rules.set(n, sc);
  return true;
});
crossValidate('suffix-map vs DomainMatcher', Uint8Array.from(qAbp.slice(0, 5000), (q) => (suffixMap.match(q) ? 1 : 0)), Uint8Array.from(qAbp.slice(0, 5000), (q) => (abpMatcher.match(q) ? 1 : 0)));
i = 0;
bench('comparator: suffix-string Map, 100k adblock', () => count(suffixMap.match(qAbp[i++ & 65_535]!)), { minMs: 400 });

// --- 1M rules: build time, heap, lookups ---
const M = 1_000_000;
const names1m = syntheticNames(M, 2);
const abp1m = adblockText(names1m);
const heapBefore = heapMiB();
let m1: BlocklistMatcher | undefined;
const buildMs = timeMs('blocklist compile adblock 1M rules', () => {
  m1 = undefined;
  m1 = compileFilter([{ name: '1m', text: abp1m }]).block;
}, 3);
const heapAfter = heapMiB();
const matcher1m = m1!;
if (matcher1m.size !== M) throw new Error(`1M build: expected ${M} names, got ${matcher1m.size}`);
const q1m = queries(names1m, 65_536, 11, true);
const slice1m = new Set(names1m.slice(0, 2000));
check('adblock 1M', matcher1m, queries([...slice1m], 400, 12, true), new Set(), slice1m);
process.stdout.write(`blocklist 1M rules heap: ${(heapAfter - heapBefore).toFixed(1)} MiB for the matcher (text itself ${(abp1m.length / 1024 / 1024).toFixed(1)} MiB, not counted)\n`);
process.stdout.write(`BENCH_JSON ${JSON.stringify({ name: 'blocklist 1M rules heap', heapMiB: heapAfter - heapBefore, compileMs: buildMs })}\n`);
i = 0;
bench('blocklist match 1M adblock rules (50% hit)', () => count(matcher1m.match(q1m[i++ & 65_535]!)), { minMs: 400 });
if (hits === 0) throw new Error('no hits recorded');
