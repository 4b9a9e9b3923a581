/**
 * The DERP "meta certificate" (derp.md §2.4; derpserver.go `initMetacert`): a throwaway
 * self-signed Ed25519 X.509 certificate whose subject CN is `derpkey<64 hex server key>` and whose
 * serial number is the protocol version (2), valid from 30 days before to 30 days after startup,
 * with BasicConstraints (critical, not a CA) as macOS requires. The TLS server sends it after the
 * real chain; under TLS 1.3 a Tailscale client reads the server key from it and uses fast start.
 *
 * Pure DER (X.690) building; the Ed25519 key comes from the injected Rng (RFC 8032 via
 * @noble/curves), so the certificate is reproducible in tests.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import type { Rng } from '../runtime/rng.js';
import { PROTOCOL_VERSION } from './frame.js';
import { keyHex } from './keys.js';

/** CN prefix clients look for (derpconst.MetaCertCommonNamePrefix). */
export const META_CERT_CN_PREFIX = 'derpkey';
/** Validity on either side of "now". */
export const META_CERT_VALIDITY_MS = 30 * 24 * 3600 * 1000;

const OID_ED25519 = [1, 3, 101, 112];
const OID_COMMON_NAME = [2, 5, 4, 3];
const OID_BASIC_CONSTRAINTS = [2, 5, 29, 19];

function tlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  const out = new Uint8Array(1 + len.length + n);
  out[0] = tag;
  out.set(len, 1);
  out.set(content, 1 + len.length);
  return out;
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const seq = (...parts: Uint8Array[]): Uint8Array => tlv(0x30, cat(...parts));

function oid(arcs: number[]): Uint8Array {
  const bytes = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(bytes));
}

function smallInteger(v: number): Uint8Array {
  return tlv(0x02, Uint8Array.of(v)); // 0..127 only, which is all this needs
}

/** UTCTime `YYMMDDHHMMSSZ` (RFC 5280 §4.1.2.5.1: years 1950–2049). */
function utcTime(ms: number): Uint8Array {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, new TextEncoder().encode(s));
}

/** DER of the meta certificate for `serverPublicKey`, valid around `nowWallMs`. */
export function buildMetaCert(serverPublicKey: Uint8Array, nowWallMs: number, rng: Rng): Uint8Array {
  const seed = rng.fill(new Uint8Array(32));
  const signerPublic = ed25519.getPublicKey(seed);
  const algorithm = seq(oid(OID_ED25519));
  const cn = new TextEncoder().encode(`${META_CERT_CN_PREFIX}${keyHex(serverPublicKey)}`);
  const name = seq(tlv(0x31, seq(oid(OID_COMMON_NAME), tlv(0x13, cn)))); // PrintableString, as Go picks
  const basicConstraints = seq(oid(OID_BASIC_CONSTRAINTS), tlv(0x01, Uint8Array.of(0xff)), tlv(0x04, seq()));
  const tbs = seq(
    tlv(0xa0, smallInteger(2)), // [0] version v3
    smallInteger(PROTOCOL_VERSION), // serial number = protocol version
    algorithm,
    name, // issuer = subject (self-signed)
    seq(utcTime(nowWallMs - META_CERT_VALIDITY_MS), utcTime(nowWallMs + META_CERT_VALIDITY_MS)),
    name,
    seq(algorithm, tlv(0x03, cat(Uint8Array.of(0), signerPublic))),
    tlv(0xa3, seq(basicConstraints)), // [3] extensions
  );
  const signature = ed25519.sign(tbs, seed);
  seed.fill(0);
  return seq(tbs, algorithm, tlv(0x03, cat(Uint8Array.of(0), signature)));
}

/** PEM text of a DER certificate. */
export function certificatePem(der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
}
