/**
 * DNS message reader for a forwarder: the header, the FIRST question and the EDNS0 OPT record,
 * bounded and never throwing (RFC 1035 §4.1, RFC 6891 §6.1, RFC 9267 anti-patterns). Every
 * other record stays opaque bytes; `scanResponse` walks the sections of an upstream reply only
 * far enough to find TTL fields, the SOA negative TTL (RFC 2308 §5) and the OPT record.
 *
 * Names become lower-case presentation strings (RFC 4343: ASCII case only) with `\.`/`\\`
 * and `\DDD` escapes, so a label holding a `.` byte never collides with two labels.
 * Writers live in response.ts.
 */

// ---- Specification constants (RFC 1035 §4.1.1, RFC 6891, RFC 3225) ----

/** Header: ID(2) FLAGS(2) QDCOUNT(2) ANCOUNT(2) NSCOUNT(2) ARCOUNT(2). */
export const HEADER_BYTES = 12;
/** FLAGS word: QR(1) OPCODE(4) AA(1) TC(1) RD(1) | RA(1) Z(1) AD(1) CD(1) RCODE(4). */
export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const FLAG_AD = 0x0020;
export const FLAG_CD = 0x0010;
export const OPCODE_MASK = 0x7800;
export const RCODE_MASK = 0x000f;
/** Longest name in wire form, length octets and the root octet included (RFC 1035 §2.3.4). */
export const MAX_NAME_BYTES = 255;
export const MAX_LABEL_BYTES = 63;
/** Compression pointers followed per name at most: a 255-byte name has ≤ 127 labels, so more hops is abuse. */
export const MAX_POINTER_HOPS = 127;
/** CNAME targets checked per answer (policy CNAME-cloaking checks); longer chains are cut. */
export const MAX_CNAME_TARGETS = 16;
/** Without EDNS0 a UDP message is at most 512 bytes (RFC 1035 §4.2.1); EDNS payload < 512 counts as 512. */
export const CLASSIC_UDP_BYTES = 512;
/** OPT TTL field: EXTENDED-RCODE(8) VERSION(8) DO(1) Z(15) (RFC 6891 §6.1.3, RFC 3225 §3). */
export const EDNS_DO_BIT = 0x8000;

export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = (typeof Rcode)[keyof typeof Rcode];
/** BADVERS is extended RCODE 16: OPT EXTENDED-RCODE 1, header RCODE 0 (RFC 6891 §6.1.3). */
export const EXTENDED_RCODE_BADVERS = 1;

export const RrType = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41,
  IXFR: 251, AXFR: 252, ANY: 255,
} as const;
export const CLASS_IN = 1;

// ---- Parsed shapes ----

export interface EdnsInfo {
  /** Requestor's UDP payload size, raised to 512 when smaller (RFC 6891 §6.2.5). */
  readonly udpPayloadBytes: number;
  readonly version: number;
  readonly dnssecOk: boolean;
}

/** A message whose header, first question and (optionally) OPT record were read. */
export interface ParsedMessage {
  readonly id: number;
  readonly flags: number;
  readonly qdcount: number;
  readonly ancount: number;
  readonly nscount: number;
  readonly arcount: number;
  /** Lower-case presentation form without the trailing dot; '' is the root. */
  readonly qname: string;
  readonly qtype: number;
  readonly qclass: number;
  /** Offset just past QCLASS: the question is `bytes.subarray(HEADER_BYTES, questionEnd)`. */
  readonly questionEnd: number;
  /** True when the question name uses a compression pointer (never needed in a query). */
  readonly questionCompressed: boolean;
  /** Undefined when the message has no OPT record (or OPT was not looked for). */
  readonly edns: EdnsInfo | undefined;
}

export type ParseError =
  | 'short-header' | 'no-question' | 'bad-name' | 'name-too-long' | 'bad-pointer' | 'short-question'
  | 'bad-record' | 'multiple-opt';

export type ParseResult =
  | { readonly ok: true; readonly msg: ParsedMessage }
  /** `id`/`flags` are present when the header itself was readable, so a FORMERR can echo them. */
  | { readonly ok: false; readonly reason: ParseError; readonly id?: number; readonly flags?: number };

export const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
export const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/**
 * A copy of `b`. `new` + `set` rather than `TypedArray.prototype.slice`, which looks up
 * `constructor[Symbol.species]` on every call and measured 2-3× slower for DNS-sized messages.
 */
export function copyBytes(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

// ---- Names ----

/** Outcome of reading a name: `end` is the offset after the name where it starts (not after a pointer target). */
export type NameResult =
  | { readonly ok: true; readonly name: string; readonly end: number; readonly compressed: boolean }
  | { readonly ok: false; readonly reason: ParseError };

function appendLabelChar(s: string, c: number): string {
  if (c >= 0x41 && c <= 0x5a) return s + String.fromCharCode(c + 32);
  if (c === 0x2e || c === 0x5c) return s + '\\' + String.fromCharCode(c);
  if (c < 0x21 || c > 0x7e) return s + '\\' + String(c).padStart(3, '0');
  return s + String.fromCharCode(c);
}

/**
 * Reads a possibly compressed name at `offset`. Pointers must point strictly before the start of
 * the label run that contains them (RFC 1035 §4.1.4 says "prior occurrence"), which makes loops
 * impossible; labels ≤ 63 bytes; the expanded name ≤ 255 bytes; the 01/10 label types are rejected.
 */
export function readName(bytes: Uint8Array, offset: number): NameResult {
  let pos = offset;
  let runStart = offset;
  let end = -1;
  let wireLen = 1; // the root octet
  let hops = 0;
  let name = '';
  for (;;) {
    if (pos >= bytes.length) return { ok: false, reason: 'bad-name' };
    const len = bytes[pos]!;
    if (len === 0) {
      const compressed = end >= 0;
      if (end < 0) end = pos + 1;
      return { ok: true, name, end, compressed };
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= bytes.length) return { ok: false, reason: 'bad-pointer' };
      const target = ((len & 0x3f) << 8) | bytes[pos + 1]!;
      if (target >= runStart || ++hops > MAX_POINTER_HOPS) return { ok: false, reason: 'bad-pointer' };
      if (end < 0) end = pos + 2;
      pos = target;
      runStart = target;
      continue;
    }
    if (kind !== 0) return { ok: false, reason: 'bad-name' };
    wireLen += len + 1;
    if (wireLen > MAX_NAME_BYTES) return { ok: false, reason: 'name-too-long' };
    if (pos + 1 + len > bytes.length) return { ok: false, reason: 'bad-name' };
    if (name.length > 0) name += '.';
    for (let i = pos + 1; i <= pos + len; i++) name = appendLabelChar(name, bytes[i]!);
    pos += len + 1;
  }
}

/** Skips a name without expanding it: returns the offset after it, or -1 when malformed. */
export function skipName(bytes: Uint8Array, offset: number): number {
  let pos = offset;
  let wireLen = 1;
  for (;;) {
    if (pos >= bytes.length) return -1;
    const len = bytes[pos]!;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= bytes.length) return -1;
      const target = ((len & 0x3f) << 8) | bytes[pos + 1]!;
      return target < pos ? pos + 2 : -1;
    }
    if ((len & 0xc0) !== 0) return -1;
    wireLen += len + 1;
    if (wireLen > MAX_NAME_BYTES || pos + 1 + len > bytes.length) return -1;
    pos += len + 1;
  }
}

// ---- Messages ----

/** Fixed part of an RR after its owner name: TYPE(2) CLASS(2) TTL(4) RDLENGTH(2). */
const RR_FIXED_BYTES = 10;

/**
 * Reads the header and the first question; with `readEdns`, also walks the remaining records to
 * find the OPT pseudo-RR (cheap for queries, which carry at most a few records).
 */
export function parseMessage(bytes: Uint8Array, readEdns = true): ParseResult {
  if (bytes.length < HEADER_BYTES) return { ok: false, reason: 'short-header' };
  const id = u16(bytes, 0);
  const flags = u16(bytes, 2);
  const qdcount = u16(bytes, 4);
  const ancount = u16(bytes, 6);
  const nscount = u16(bytes, 8);
  const arcount = u16(bytes, 10);
  if (qdcount === 0) return { ok: false, reason: 'no-question', id, flags };
  const nr = readName(bytes, HEADER_BYTES);
  if (!nr.ok) return { ok: false, reason: nr.reason, id, flags };
  if (nr.end + 4 > bytes.length) return { ok: false, reason: 'short-question', id, flags };
  const qtype = u16(bytes, nr.end);
  const qclass = u16(bytes, nr.end + 2);
  const questionEnd = nr.end + 4;
  let edns: EdnsInfo | undefined;
  if (readEdns && arcount > 0) {
    let pos = questionEnd;
    // Skip any further questions, then walk every record looking for OPT.
    for (let q = 1; q < qdcount; q++) {
      pos = skipName(bytes, pos);
      if (pos < 0 || pos + 4 > bytes.length) return { ok: false, reason: 'bad-record', id, flags };
      pos += 4;
    }
    const total = ancount + nscount + arcount;
    for (let r = 0; r < total; r++) {
      const nameStart = pos;
      pos = skipName(bytes, pos);
      if (pos < 0 || pos + RR_FIXED_BYTES > bytes.length) return { ok: false, reason: 'bad-record', id, flags };
      const type = u16(bytes, pos);
      const rdlen = u16(bytes, pos + 8);
      if (pos + RR_FIXED_BYTES + rdlen > bytes.length) return { ok: false, reason: 'bad-record', id, flags };
      if (type === RrType.OPT && r >= ancount + nscount) {
        if (edns !== undefined) return { ok: false, reason: 'multiple-opt', id, flags };
        // OPT owner must be the root (RFC 6891 §6.1.2); class = UDP payload size; TTL = ext-rcode|version|DO|Z.
        if (bytes[nameStart] !== 0) return { ok: false, reason: 'bad-record', id, flags };
        const size = u16(bytes, pos + 2);
        edns = {
          udpPayloadBytes: Math.max(CLASSIC_UDP_BYTES, size),
          version: bytes[pos + 5]!,
          dnssecOk: (u16(bytes, pos + 6) & EDNS_DO_BIT) !== 0,
        };
      }
      pos += RR_FIXED_BYTES + rdlen;
    }
  }
  return { ok: true, msg: { id, flags, qdcount, ancount, nscount, arcount, qname: nr.name, qtype, qclass, questionEnd, questionCompressed: nr.compressed, edns } };
}

/** What a forwarder needs from an upstream reply, found in one pass over its records. */
export interface ResponseScan {
  readonly rcode: number;
  readonly truncated: boolean;
  /** Offsets of the TTL field of every RR except OPT, in message order. */
  readonly ttlOffsets: readonly number[];
  /** Smallest TTL over the answer section (seconds); undefined when the section is empty. */
  readonly minAnswerTtl: number | undefined;
  /** Smallest TTL over all non-OPT records; undefined when there are none. */
  readonly minTtl: number | undefined;
  /** RFC 2308 §5: min(SOA TTL, SOA MINIMUM) of the first SOA in the authority section. */
  readonly negativeTtl: number | undefined;
  /** Byte range of the OPT RR, or undefined. */
  readonly optStart: number | undefined;
  readonly optEnd: number | undefined;
  /** Offsets of CNAME RDATA (names) in the answer section, for CNAME-cloaking checks. */
  readonly cnameRdataOffsets: readonly number[];
}

/**
 * Walks every section of a message (questions skipped, `qdcount` honoured) and returns the TTL
 * offsets, minimum TTLs and OPT position. Returns undefined when any record runs past the end or
 * a count is larger than the message.
 */
export function scanResponse(bytes: Uint8Array, msg: ParsedMessage): ResponseScan | undefined {
  let pos = msg.questionEnd;
  for (let q = 1; q < msg.qdcount; q++) {
    pos = skipName(bytes, pos);
    if (pos < 0 || pos + 4 > bytes.length) return undefined;
    pos += 4;
  }
  const ttlOffsets: number[] = [];
  const cnameRdataOffsets: number[] = [];
  let minAnswerTtl: number | undefined;
  let minTtl: number | undefined;
  let negativeTtl: number | undefined;
  let optStart: number | undefined;
  let optEnd: number | undefined;
  const total = msg.ancount + msg.nscount + msg.arcount;
  for (let r = 0; r < total; r++) {
    const start = pos;
    pos = skipName(bytes, pos);
    if (pos < 0 || pos + RR_FIXED_BYTES > bytes.length) return undefined;
    const type = u16(bytes, pos);
    const rdlen = u16(bytes, pos + 8);
    const rdata = pos + RR_FIXED_BYTES;
    if (rdata + rdlen > bytes.length) return undefined;
    if (type === RrType.OPT) {
      if (optStart !== undefined) return undefined;
      optStart = start;
      optEnd = rdata + rdlen;
    } else {
      // RFC 2181 §8: a TTL with the top bit set is treated as zero.
      const raw = u32(bytes, pos + 4);
      const ttl = raw > 0x7fffffff ? 0 : raw;
      ttlOffsets.push(pos + 4);
      if (minTtl === undefined || ttl < minTtl) minTtl = ttl;
      if (r < msg.ancount) {
        if (minAnswerTtl === undefined || ttl < minAnswerTtl) minAnswerTtl = ttl;
        if (type === RrType.CNAME && cnameRdataOffsets.length < MAX_CNAME_TARGETS) cnameRdataOffsets.push(rdata);
      } else if (r < msg.ancount + msg.nscount && type === RrType.SOA && negativeTtl === undefined && rdlen >= 22) {
        // SOA RDATA ends with SERIAL REFRESH RETRY EXPIRE MINIMUM (5 × u32); MINIMUM is the last 4 bytes.
        negativeTtl = Math.min(ttl, u32(bytes, rdata + rdlen - 4) & 0x7fffffff);
      }
    }
    pos = rdata + rdlen;
  }
  return {
    rcode: msg.flags & RCODE_MASK, truncated: (msg.flags & FLAG_TC) !== 0,
    ttlOffsets, minAnswerTtl, minTtl, negativeTtl, optStart, optEnd, cnameRdataOffsets,
  };
}

/** Names of the CNAME targets of an answer (for policy checks), skipping any that fail to parse. */
export function cnameTargets(bytes: Uint8Array, scan: ResponseScan): string[] {
  const out: string[] = [];
  for (const off of scan.cnameRdataOffsets) {
    const r = readName(bytes, off);
    if (r.ok) out.push(r.name);
  }
  return out;
}

/** ASCII case-insensitive equality of two byte ranges (RFC 4343), for question matching. */
export function equalsIgnoreCase(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, length: number): boolean {
  if (aStart + length > a.length || bStart + length > b.length) return false;
  for (let i = 0; i < length; i++) {
    let x = a[aStart + i]!;
    let y = b[bStart + i]!;
    if (x >= 0x41 && x <= 0x5a) x += 32;
    if (y >= 0x41 && y <= 0x5a) y += 32;
    if (x !== y) return false;
  }
  return true;
}
