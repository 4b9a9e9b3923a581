/**
 * Unit-bearing config values: durations (`300ms`, `5s`, `1m30s`) and byte sizes (`10MB`,
 * `512KiB`). Pure; bounded input length; undefined on anything not exactly that form.
 */

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
