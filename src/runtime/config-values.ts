/**
 * Config value syntaxes: durations (`300ms`, `5s`, `1m30s`), byte sizes (`10MB`, `512KiB`),
 * `host:port`, and the "did you mean" suggestion. Pure; bounded input length; undefined on
 * anything not exactly that form.
 */
import { parseIpAddress, type IpAddress } from './ip-address.js';

/** A host and port from `host:port`, `[v6]:port` or a bare host with a default port. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
  /** The parsed address when `host` is an IP literal; undefined for a host name. */
  readonly ip: IpAddress | undefined;
}

const DURATION_UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Durations above this (about 10 years) are refused; nothing in a config needs more. */
const MAX_DURATION_MS = 10 * 366 * 86_400_000;
const MAX_UNIT_TEXT = 40;

/** `300ms`, `5s`, `2m`, `1h`, `1d`, `1.5s` or sequences like `1h30m` → integer milliseconds. */
export function parseDurationMs(text: string): number | undefined {
  const t = text.trim();
  if (t === '' || t.length > MAX_UNIT_TEXT) return undefined;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(t); m !== null; m = re.exec(t)) {
    total += Number(m[1]) * DURATION_UNIT_MS[m[2] as keyof typeof DURATION_UNIT_MS];
    end = re.lastIndex;
  }
  if (end !== t.length || !Number.isFinite(total) || total > MAX_DURATION_MS) return undefined;
  return Math.round(total);
}

const SIZE_UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, k: 1024, m: 1024 ** 2, g: 1024 ** 3,
};

/** `4096`, `100B`, `10MB` (10^7), `512KiB` (2^19), `1.5GiB` → whole bytes. `K`/`M`/`G` alone mean KiB/MiB/GiB. */
export function parseByteSize(text: string): number | undefined {
  const t = text.trim();
  if (t.length > MAX_UNIT_TEXT) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(t);
  if (!m) return undefined;
  const unit = (m[2] ?? '').toLowerCase();
  const mult = unit === '' ? 1 : SIZE_UNIT_BYTES[unit];
  if (mult === undefined) return undefined;
  const n = Math.round(Number(m[1]) * mult);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A short human form for messages: `64 KiB`, `4 MiB`, `100 B`. */
export function formatByteSize(bytes: number): string {
  for (const [u, m] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= m && bytes % m === 0) return `${bytes / m} ${u}`;
  }
  return `${bytes} B`;
}

/** A short human form for messages: `1m`, `1h30m`, `250ms`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [u, m] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    if (rest >= m) {
      out += `${Math.floor(rest / m)}${u}`;
      rest %= m;
    }
  }
  return out;
}

/** Parses `host:port`, `[v6]:port`; with `defaultPort`, also a bare host or bare IPv6 literal. */
export function parseHostPort(text: string, defaultPort?: number): HostPort | undefined {
  if (text.length === 0 || text.length > 300) return undefined;
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return undefined;
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    portText = rest === '' ? undefined : rest.slice(1);
    if (parseIpAddress(host)?.family !== 6) return undefined;
  } else if (text.indexOf(':') !== text.lastIndexOf(':')) {
    host = text; // bare IPv6
    if (parseIpAddress(host)?.family !== 6) return undefined;
  } else {
    const colon = text.indexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
  }
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) return undefined;
    port = defaultPort;
  } else {
    if (!/^(0|[1-9][0-9]{0,4})$/.test(portText)) return undefined;
    port = Number(portText);
    if (port > 65535) return undefined;
  }
  const ip = parseIpAddress(host);
  if (ip === undefined && !isHostName(host)) return undefined;
  return { host: ip === undefined ? host.toLowerCase() : host, port, ip };
}

/** A DNS host name in LDH form (RFC 1123 §2.1), ≤ 253 characters, no trailing dot. */
export function isHostName(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  return s.split('.').every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/** The candidate within edit distance 2 (or a third of the word) of `word`, if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase(), bestD);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/** Levenshtein distance, giving up (returning `cap`) once it exceeds `cap`. */
function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin >= cap) return cap;
    prev = cur;
  }
  return prev[b.length]!;
}
