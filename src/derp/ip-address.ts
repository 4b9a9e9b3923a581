/**
 * IP address text ⇄ bytes for the DERP and STUN cores (pure; no `node:net`).
 *
 * Accepts dotted-quad IPv4 and RFC 4291 §2.2 IPv6 text (with `::` compression and a trailing
 * dotted quad), optionally with a `%zone` suffix that is ignored. IPv4-mapped IPv6
 * (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) is unmapped to 4 bytes, because STUN and DERP report
 * such peers as IPv4 (Tailscale's clients call `Unmap()` on what they read).
 */

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address. */
export type IpBytes = Uint8Array;

/** Parses dotted-quad IPv4 text into 4 bytes, or undefined when it is not exactly that. */
export function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

/** Parses IPv6 text into 16 bytes, or undefined when malformed. */
export function parseIpv6(text: string): Uint8Array | undefined {
  const zone = text.indexOf('%');
  const t = zone >= 0 ? text.slice(0, zone) : text;
  if (t.length === 0 || t.length > 45) return undefined;
  const halves = t.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (!head || !tail) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** True when 16 bytes hold an IPv4-mapped IPv6 address (::ffff:0:0/96). */
export function isIpv4Mapped(ip16: Uint8Array): boolean {
  if (ip16.length !== 16) return false;
  for (let i = 0; i < 12; i++) if (ip16[i] !== V4_MAPPED_PREFIX[i]) return false;
  return true;
}

/** Parses IPv4 or IPv6 text; IPv4-mapped IPv6 comes back as 4 bytes. */
export function parseIp(text: string): IpBytes | undefined {
  if (!text.includes(':')) return parseIpv4(text);
  const v6 = parseIpv6(text);
  if (v6 && isIpv4Mapped(v6)) return v6.slice(12);
  return v6;
}

/** Formats 4 or 16 bytes as text (IPv6 in RFC 5952 form: lowercase, longest zero run compressed). */
export function formatIp(ip: Uint8Array): string {
  if (ip.length === 4) return `${ip[0]}.${ip[1]}.${ip[2]}.${ip[3]}`;
  if (ip.length !== 16) return '';
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((ip[2 * i]! << 8) | ip[2 * i + 1]!);
  // RFC 5952 §4.2.2/§4.2.3: compress the longest run of two or more zero groups, the first on ties.
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

/** 16-byte form (IPv4 becomes IPv4-mapped), as DERP's PeerPresent frame carries it. */
export function toIp16(ip: IpBytes): Uint8Array {
  if (ip.length === 16) return ip;
  const out = new Uint8Array(16);
  out.set(V4_MAPPED_PREFIX, 0);
  out.set(ip.subarray(0, 4), 12);
  return out;
}
