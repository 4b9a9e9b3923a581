/**
 * Test-side DNS message builder: queries and replies with uncompressed names, written directly
 * from RFC 1035 §4.1 layouts (independent of src/dns/response.ts except for name encoding,
 * which has its own tests).
 */
import { encodeName } from '../../src/dns/response.js';

export interface Rr {
  readonly name: string;
  readonly type: number;
  readonly ttl: number;
  readonly rdata: Uint8Array;
  readonly cls?: number;
}

function u16(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}
function u32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}
function name(n: string): number[] {
  const w = encodeName(n);
  if (!w) throw new Error(`bad test name ${n}`);
  return [...w];
}
function rr(r: Rr): number[] {
  return [...name(r.name), ...u16(r.type), ...u16(r.cls ?? 1), ...u32(r.ttl), ...u16(r.rdata.length), ...r.rdata];
}
/** OPT RR: root name, TYPE 41, CLASS = payload size, TTL = ext-rcode|version|DO|Z, RDLEN 0. */
export function opt(size = 1232, dnssecOk = false, version = 0): number[] {
  return [0, ...u16(41), ...u16(size), 0, version, dnssecOk ? 0x80 : 0, 0, 0, 0];
}

export interface QueryOpts {
  id?: number;
  flags?: number;
  edns?: { size?: number; do?: boolean; version?: number } | undefined;
  qclass?: number;
}

export function query(qname: string, qtype: number, o: QueryOpts = {}): Uint8Array {
  const ar = o.edns ? 1 : 0;
  return Uint8Array.from([
    ...u16(o.id ?? 0x1234), ...u16(o.flags ?? 0x0100), ...u16(1), ...u16(0), ...u16(0), ...u16(ar),
    ...name(qname), ...u16(qtype), ...u16(o.qclass ?? 1),
    ...(o.edns ? opt(o.edns.size ?? 1232, o.edns.do ?? false, o.edns.version ?? 0) : []),
  ]);
}

export interface ReplyOpts {
  id: number;
  rcode?: number;
  tc?: boolean;
  answers?: Rr[];
  authority?: Rr[];
  additional?: Rr[];
  edns?: boolean;
  qclass?: number;
}

export function reply(qname: string, qtype: number, o: ReplyOpts): Uint8Array {
  const an = o.answers ?? [];
  const ns = o.authority ?? [];
  const ad = o.additional ?? [];
  const flags = 0x8180 | (o.tc ? 0x0200 : 0) | (o.rcode ?? 0);
  return Uint8Array.from([
    ...u16(o.id), ...u16(flags), ...u16(1), ...u16(an.length), ...u16(ns.length), ...u16(ad.length + (o.edns ? 1 : 0)),
    ...name(qname), ...u16(qtype), ...u16(o.qclass ?? 1),
    ...an.flatMap(rr), ...ns.flatMap(rr), ...ad.flatMap(rr), ...(o.edns ? opt() : []),
  ]);
}

export const A = (name: string, ip: string, ttl = 300): Rr => ({ name, type: 1, ttl, rdata: Uint8Array.from(ip.split('.').map(Number)) });
export const CNAME = (name: string, target: string, ttl = 300): Rr => ({ name, type: 5, ttl, rdata: Uint8Array.from(name_(target)) });
const name_ = name;
/** SOA with given TTL and MINIMUM (RFC 1035 §3.3.13: MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM). */
export const SOA = (zone: string, ttl: number, minimum: number): Rr => ({
  name: zone, type: 6, ttl,
  rdata: Uint8Array.from([...name(`ns.${zone}`), ...name(`host.${zone}`), ...u32(1), ...u32(3600), ...u32(600), ...u32(86400), ...u32(minimum)]),
});
export const TXT = (name: string, text: string, ttl = 300): Rr => ({ name, type: 16, ttl, rdata: Uint8Array.from([text.length, ...Buffer.from(text)]) });

export const rd16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
export const rd32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
