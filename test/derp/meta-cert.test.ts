import { describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { buildMetaCert, certificatePem } from '../../src/derp/meta-cert.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { toHex } from '../../src/runtime/bytes.js';

describe('DERP meta certificate', () => {
  const key = new Uint8Array(32).map((_, i) => i);
  const now = Date.UTC(2026, 10, 26, 1, 2, 3);
  const der = buildMetaCert(key, now, new SeededRng(5));
  const x = new X509Certificate(certificatePem(der));

  it('names the server key in the CN and the protocol version in the serial', () => {
    expect(x.subject).toBe(`CN=derpkey${toHex(key)}`);
    expect(x.issuer).toBe(x.subject);
    expect(x.serialNumber).toBe('02');
  });
  it('is valid from 30 days before to 30 days after now', () => {
    expect(new Date(x.validFrom).getTime()).toBe(now - 30 * 86400_000);
    expect(new Date(x.validTo).getTime()).toBe(now + 30 * 86400_000);
  });
  it('is a self-signed Ed25519 certificate with a critical BasicConstraints, not a CA', () => {
    expect(x.publicKey.asymmetricKeyType).toBe('ed25519');
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.ca).toBe(false);
    expect(toHex(der)).toContain('0603551d130101ff04023000'); // basicConstraints, critical, SEQUENCE {}
  });
  it('is reproducible from the same Rng seed and differs across seeds', () => {
    expect(toHex(buildMetaCert(key, now, new SeededRng(5)))).toBe(toHex(der));
    expect(toHex(buildMetaCert(key, now, new SeededRng(6)))).not.toBe(toHex(der));
  });
});
