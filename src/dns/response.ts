/**
 * DNS message writers for the forwarder: the query sent upstream (our own OPT, RFC 6891 §7 says
 * OPT is hop-by-hop), error responses that echo the client's question (RFC 1035 §4.1.1), simple
 * authoritative answers from local records, and the last step before a reply leaves: the client's
 * ID and question bytes (case kept, draft-vixie-dnsext-dns0x20), OPT kept only when the client
 * sent one, and TC truncation to the client's UDP limit (RFC 1035 §4.2.1, RFC 6891 §6.2.5).
 */
import {
  CLASSIC_UDP_BYTES, EDNS_DO_BIT, FLAG_AD, FLAG_CD, FLAG_QR, FLAG_RA, FLAG_RD, FLAG_TC, FLAG_AA, HEADER_BYTES,
  MAX_LABEL_BYTES, MAX_NAME_BYTES, copyBytes, OPCODE_MASK, RCODE_MASK, RrType, CLASS_IN, type EdnsInfo, writeU16, writeU32, u16,
} from './message.js';

/** The UDP payload size we advertise and ask for (DNS Flag Day 2020; unbound/dnsmasq default). */
export const EDNS_UDP_PAYLOAD_BYTES = 1232;
/** OPT RR: NAME(1)=0 TYPE(2)=41 CLASS(2)=payload size TTL(4)=ext-rcode|version|DO|Z RDLENGTH(2)=0. */
export const OPT_RR_BYTES = 11;

/** What a reply must be shaped to: the client's header bits, question bytes and EDNS. */
export interface ClientView {
  readonly id: number;
  /** The client's FLAGS word (RD, CD, AD and OPCODE are echoed). */
  readonly flags: number;
  /** The client's question exactly as received (QNAME QTYPE QCLASS), case preserved. */
  readonly question: Uint8Array;
  readonly edns: EdnsInfo | undefined;
  /** Largest reply for this client: its UDP limit, or undefined over TCP (65535 by framing). */
  readonly maxBytes: number | undefined;
}

/**
 * The largest UDP reply we send a client: 512 without EDNS, else its advertised size capped at
 * 1232 (DNS Flag Day 2020, dnsmasq `--edns-packet-max`): larger answers get TC and go over TCP
 * instead of as fragmented datagrams.
 */
export function udpLimitFor(edns: EdnsInfo | undefined): number {
  if (edns === undefined) return CLASSIC_UDP_BYTES;
  return Math.max(CLASSIC_UDP_BYTES, Math.min(edns.udpPayloadBytes, EDNS_UDP_PAYLOAD_BYTES));
}

function writeOpt(out: Uint8Array, off: number, dnssecOk: boolean, extendedRcode = 0): number {
  out[off] = 0;
  writeU16(out, off + 1, RrType.OPT);
  writeU16(out, off + 3, EDNS_UDP_PAYLOAD_BYTES);
  out[off + 5] = extendedRcode;
  out[off + 6] = 0;
  writeU16(out, off + 7, dnssecOk ? EDNS_DO_BIT : 0);
  writeU16(out, off + 9, 0);
  return off + OPT_RR_BYTES;
}

/**
 * The query we send upstream: a fresh `txid`, QUERY opcode, the client's RD/CD/AD bits, its
 * question bytes, and our own OPT (1232 bytes, DO copied) — client EDNS options such as ECS are
 * never forwarded (dns.md §2 items 11-13).
 */
export function buildUpstreamQuery(question: Uint8Array, clientFlags: number, txid: number, dnssecOk: boolean): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + question.length + OPT_RR_BYTES);
  writeU16(out, 0, txid);
  writeU16(out, 2, clientFlags & (FLAG_RD | FLAG_CD | FLAG_AD));
  writeU16(out, 4, 1);
  writeU16(out, 10, 1);
  out.set(question, HEADER_BYTES);
  writeOpt(out, HEADER_BYTES + question.length, dnssecOk);
  return out;
}

/** Response FLAGS for our own answers: QR, the client's OPCODE/RD/CD, RA, and `rcode`. */
function responseFlags(clientFlags: number, rcode: number, authoritative: boolean): number {
  return FLAG_QR | (clientFlags & (OPCODE_MASK | FLAG_RD | FLAG_CD)) | FLAG_RA | (authoritative ? FLAG_AA : 0) | (rcode & RCODE_MASK);
}

/** Extended DNS Error option (RFC 8914 §2): OPTION-CODE(2)=15 OPTION-LENGTH(2)=2 INFO-CODE(2). */
export const EDNS_OPTION_EDE = 15;
const EDE_OPTION_BYTES = 6;
/** RFC 8914 §4.23: "No Reachable Authority" — every upstream of the route failed. */
export const EDE_NO_REACHABLE_AUTHORITY = 22;

/**
 * An error response (FORMERR, SERVFAIL, NXDOMAIN, REFUSED, NOTIMP, BADVERS via `extendedRcode`)
 * echoing the question when there is one and an OPT when the client sent one; with `ede`, the
 * OPT carries that Extended DNS Error code (RFC 8914).
 */
export function buildErrorResponse(
  client: { readonly id: number; readonly flags: number; readonly question?: Uint8Array | undefined; readonly edns?: EdnsInfo | undefined },
  rcode: number,
  extendedRcode = 0,
  ede?: number,
): Uint8Array {
  const q = client.question;
  const hasOpt = client.edns !== undefined || extendedRcode !== 0;
  const withEde = hasOpt && ede !== undefined;
  const out = new Uint8Array(HEADER_BYTES + (q?.length ?? 0) + (hasOpt ? OPT_RR_BYTES : 0) + (withEde ? EDE_OPTION_BYTES : 0));
  writeU16(out, 0, client.id);
  writeU16(out, 2, responseFlags(client.flags, rcode, false));
  writeU16(out, 4, q ? 1 : 0);
  writeU16(out, 10, hasOpt ? 1 : 0);
  if (q) out.set(q, HEADER_BYTES);
  if (hasOpt) {
    const end = writeOpt(out, HEADER_BYTES + (q?.length ?? 0), client.edns?.dnssecOk ?? false, extendedRcode);
    if (withEde) {
      writeU16(out, end - 2, EDE_OPTION_BYTES); // OPT RDLENGTH
      writeU16(out, end, EDNS_OPTION_EDE);
      writeU16(out, end + 2, 2);
      writeU16(out, end + 4, ede);
    }
  }
  return out;
}

/** A record for a locally generated answer; `rdata` is wire format (same shape as policy.ts LocalRecord). */
export interface AnswerRecord {
  readonly name: string;
  readonly type: number;
  readonly ttl: number;
  readonly rdata: Uint8Array;
}

/**
 * Presentation name (lower or mixed case, `\.`, `\\` and `\DDD` escapes, optional trailing dot)
 * to wire form; undefined when a label is empty or > 63 bytes or the name > 255 bytes.
 */
export function encodeName(name: string): Uint8Array | undefined {
  const text = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  const out: number[] = [];
  if (text.length > 0) {
    let label: number[] = [];
    const flush = (): boolean => {
      if (label.length === 0 || label.length > MAX_LABEL_BYTES) return false;
      out.push(label.length, ...label);
      label = [];
      return true;
    };
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch === 0x2e) {
        if (!flush()) return undefined;
      } else if (ch === 0x5c) {
        const d = text.slice(i + 1, i + 4);
        if (/^[0-9]{3}$/.test(d) && Number(d) <= 255) {
          label.push(Number(d));
          i += 3;
        } else if (i + 1 < text.length) {
          label.push(text.charCodeAt(++i) & 0xff);
        } else return undefined;
      } else if (ch > 0xff) {
        return undefined;
      } else label.push(ch);
    }
    if (!flush()) return undefined;
  }
  out.push(0);
  return out.length > MAX_NAME_BYTES ? undefined : Uint8Array.from(out);
}

/** Pointer to the question name at offset 12: 0b11 << 14 | 12 (RFC 1035 §4.1.4). */
const QNAME_POINTER = 0xc000 | HEADER_BYTES;

/**
 * An answer built from local records (policy `local`, blocked null-IP answers). Records owned by
 * `qname` point at the question name; others are written in full. SOA records of a negative
 * answer go to the authority section (RFC 2308 §3). Falls back to SERVFAIL if a name is invalid.
 */
export function buildLocalAnswer(client: ClientView, qname: string, records: readonly AnswerRecord[], rcode: number): Uint8Array {
  const negative = rcode !== 0;
  const answers: { owner: Uint8Array | undefined; rec: AnswerRecord }[] = [];
  const authority: { owner: Uint8Array | undefined; rec: AnswerRecord }[] = [];
  let size = HEADER_BYTES + client.question.length + (client.edns ? OPT_RR_BYTES : 0);
  for (const rec of records) {
    const same = rec.name.toLowerCase().replace(/\.$/, '') === qname;
    const owner = same ? undefined : encodeName(rec.name);
    if (!same && owner === undefined) return buildErrorResponse(client, 2);
    if (rec.rdata.length > 0xffff) return buildErrorResponse(client, 2);
    size += (owner?.length ?? 2) + 10 + rec.rdata.length;
    (negative && rec.type === RrType.SOA ? authority : answers).push({ owner, rec });
  }
  if (size > 0xffff) return buildErrorResponse(client, 2);
  const out = new Uint8Array(size);
  writeU16(out, 0, client.id);
  writeU16(out, 2, responseFlags(client.flags, rcode, true));
  writeU16(out, 4, 1);
  writeU16(out, 6, answers.length);
  writeU16(out, 8, authority.length);
  writeU16(out, 10, client.edns ? 1 : 0);
  out.set(client.question, HEADER_BYTES);
  let off = HEADER_BYTES + client.question.length;
  for (const { owner, rec } of [...answers, ...authority]) {
    if (owner) {
      out.set(owner, off);
      off += owner.length;
    } else {
      writeU16(out, off, QNAME_POINTER);
      off += 2;
    }
    writeU16(out, off, rec.type);
    writeU16(out, off + 2, CLASS_IN);
    writeU32(out, off + 4, Math.max(0, Math.min(rec.ttl, 0x7fffffff)));
    writeU16(out, off + 8, rec.rdata.length);
    out.set(rec.rdata, off + 10);
    off += 10 + rec.rdata.length;
  }
  if (client.edns) writeOpt(out, off, client.edns.dnssecOk);
  if (client.maxBytes !== undefined && out.length > client.maxBytes) return truncated(client, out);
  return out;
}

/** Header + question (+ OPT) with TC set: the client must retry over TCP (RFC 7766 §5). */
function truncated(client: ClientView, reply: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + client.question.length + (client.edns ? OPT_RR_BYTES : 0));
  writeU16(out, 0, client.id);
  writeU16(out, 2, u16(reply, 2) | FLAG_TC);
  writeU16(out, 4, 1);
  writeU16(out, 10, client.edns ? 1 : 0);
  out.set(client.question, HEADER_BYTES);
  if (client.edns) writeOpt(out, HEADER_BYTES + client.question.length, client.edns.dnssecOk);
  return out;
}

/**
 * Shapes an upstream (or cached) reply for one client. `reply` must be a copy the caller owns:
 * it is patched in place when its size does not change. `questionEnd` and the OPT range describe
 * `reply` (from parseMessage/scanResponse).
 */
export function finishForClient(
  reply: Uint8Array, questionEnd: number, optStart: number | undefined, optEnd: number | undefined, client: ClientView,
): Uint8Array {
  let out: Uint8Array = reply;
  let optS = optStart;
  let optE = optEnd;
  const qlen = questionEnd - HEADER_BYTES;
  if (qlen !== client.question.length) {
    const delta = client.question.length - qlen;
    out = new Uint8Array(reply.length + delta);
    out.set(reply.subarray(0, HEADER_BYTES));
    out.set(reply.subarray(questionEnd), HEADER_BYTES + client.question.length);
    if (optS !== undefined && optE !== undefined) {
      optS += delta;
      optE += delta;
    }
  }
  out.set(client.question, HEADER_BYTES);
  writeU16(out, 0, client.id);
  // Echo the client's RD/CD; show AD only to clients that asked with DO or AD (RFC 6840 §5.7-5.8).
  let flags = (u16(out, 2) & ~(FLAG_RD | FLAG_CD)) | (client.flags & (FLAG_RD | FLAG_CD));
  if ((client.flags & FLAG_AD) === 0 && !client.edns?.dnssecOk) flags &= ~FLAG_AD;
  writeU16(out, 2, flags);
  if (optS !== undefined && optE !== undefined) {
    if (client.edns === undefined) {
      const stripped = new Uint8Array(out.length - (optE - optS));
      stripped.set(out.subarray(0, optS));
      stripped.set(out.subarray(optE), optS);
      writeU16(stripped, 10, Math.max(0, u16(stripped, 10) - 1));
      out = stripped;
    } else {
      writeU16(out, optS + 3, EDNS_UDP_PAYLOAD_BYTES);
    }
  }
  if (client.maxBytes !== undefined && out.length > client.maxBytes) return truncated(client, out);
  return out;
}

/**
 * `finishForClient` for a reply the caller does not own: makes the one copy it needs (without
 * the OPT record when the client sent none) and shapes it.
 */
export function finishCopyForClient(
  reply: Uint8Array, questionEnd: number, optStart: number | undefined, optEnd: number | undefined, client: ClientView,
): Uint8Array {
  if (client.edns === undefined && optStart !== undefined && optEnd !== undefined && optStart >= questionEnd) {
    const out = new Uint8Array(reply.length - (optEnd - optStart));
    out.set(reply.subarray(0, optStart));
    out.set(reply.subarray(optEnd), optStart);
    writeU16(out, 10, Math.max(0, u16(out, 10) - 1));
    return finishForClient(out, questionEnd, undefined, undefined, client);
  }
  return finishForClient(copyBytes(reply), questionEnd, optStart, optEnd, client);
}
