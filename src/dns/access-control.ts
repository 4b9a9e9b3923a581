/**
 * Which clients the forwarder serves (unbound's `access-control`, AdGuard Home's allowed and
 * disallowed clients): a resolver listening on a VPN or LAN address must not become an open
 * resolver for the world.
 *
 * - `deny` prefixes: queries are dropped without an answer (checked first).
 * - `allow` prefixes: when any are given, every other client is answered REFUSED.
 * With neither, everyone is served. IPv4-mapped IPv6 sources (`::ffff:a.b.c.d`, from dual-stack
 * sockets) are matched as IPv4. A source that does not parse is refused.
 */
import { parseIpAddress, type IpPrefix } from '../runtime/ip-address.js';

export type AccessDecision = 'allow' | 'refuse' | 'drop';

export interface AccessControlConfig {
  readonly allow: readonly IpPrefix[];
  readonly deny: readonly IpPrefix[];
}

function matches(prefix: IpPrefix, bytes: Uint8Array): boolean {
  if (prefix.bytes.length !== bytes.length) return false;
  const full = prefix.prefixLength >> 3;
  for (let i = 0; i < full; i++) if (prefix.bytes[i] !== bytes[i]) return false;
  const rest = prefix.prefixLength & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[full]! & mask) === prefix.bytes[full];
}

/** The 4 bytes of an IPv4-mapped IPv6 address, or the address as it is. */
function unmapped(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16 || bytes[10] !== 0xff || bytes[11] !== 0xff) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  return bytes.subarray(12);
}

export class ClientAccess {
  readonly #allow: readonly IpPrefix[];
  readonly #deny: readonly IpPrefix[];

  constructor(config: AccessControlConfig) {
    this.#allow = config.allow;
    this.#deny = config.deny;
  }

  /** True when no rule is configured (every client is served; callers may skip the check). */
  get open(): boolean {
    return this.#allow.length === 0 && this.#deny.length === 0;
  }

  /** The decision for a client's source address text (as the socket reports it). Never throws. */
  decide(address: string): AccessDecision {
    if (this.open) return 'allow';
    const pct = address.indexOf('%');
    const ip = parseIpAddress(pct < 0 ? address : address.slice(0, pct));
    if (!ip) return 'refuse';
    const bytes = unmapped(ip.bytes);
    for (const p of this.#deny) if (matches(p, bytes)) return 'drop';
    if (this.#allow.length === 0) return 'allow';
    for (const p of this.#allow) if (matches(p, bytes)) return 'allow';
    return 'refuse';
  }
}
