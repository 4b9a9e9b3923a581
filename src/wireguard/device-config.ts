/**
 * Validation of a `DeviceConfigChange` before anything is applied, so `Device.configure()` is
 * all or nothing (wireguard.md §2.2: the UAPI `set=1` keys). Config errors are programmer/edge
 * errors, thrown as TsplaneError with code WG_ERR_INVALID_CONFIG; the UAPI edge maps them to
 * errno=-22 (EINVAL).
 */
import { isAllZero, toHex } from '../runtime/bytes.js';
import { TsplaneError } from '../runtime/errors.js';
import { generatePrivateKey, KEY_BYTES, publicKeyOf } from './crypto.js';
import type { DeviceConfigChange, Endpoint, IpPrefix } from './device-api.js';
import { parseIpAddress } from './ip-packet.js';
import { MAX_PEERS } from './constants.js';

/** The longest persistent keepalive interval UAPI accepts (u16 seconds). */
export const MAX_PERSISTENT_KEEPALIVE_S = 65_535;

function invalid(what: string): never {
  throw new TsplaneError('WG_ERR_INVALID_CONFIG', what);
}

function checkKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) invalid(`${what} must be ${KEY_BYTES} bytes`);
}

function checkPrefix(p: IpPrefix, what: string): void {
  const len = p.family === 4 ? 4 : p.family === 6 ? 16 : -1;
  if (len < 0) invalid(`${what}: family must be 4 or 6`);
  if (!(p.address instanceof Uint8Array) || p.address.length !== len) invalid(`${what}: IPv${p.family} address must be ${len} bytes`);
  if (!Number.isInteger(p.bits) || p.bits < 0 || p.bits > len * 8) invalid(`${what}: prefix length ${p.bits} out of range`);
}

function checkEndpoint(e: Endpoint, what: string): void {
  const bytes = parseIpAddress(e.address);
  if (bytes === undefined || (bytes.length === 4 ? 4 : 6) !== e.family) invalid(`${what}: ${e.address} is not a numeric IPv${e.family} address`);
  if (!Number.isInteger(e.port) || e.port < 0 || e.port > 65_535) invalid(`${what}: port ${e.port} out of range`);
}

/** The clamped private key (RFC 7748 §5, as the kernel stores it) and its public key; undefined for all-zero ("remove the key"). */
export function identityFromPrivateKey(privateKey: Uint8Array): { privateKey: Uint8Array; publicKey: Uint8Array } | undefined {
  if (isAllZero(privateKey)) return undefined;
  const clamped = generatePrivateKey(privateKey);
  return { privateKey: clamped, publicKey: publicKeyOf(clamped) };
}

/**
 * Throws WG_ERR_INVALID_CONFIG if `change` cannot be applied in full.
 * @param ownPublicKey our public key *after* the change's private key (peers with it are ignored)
 * @param existingPeers hex public keys of the peers configured now
 */
export function validateConfigChange(change: DeviceConfigChange, ownPublicKey: Uint8Array | undefined, existingPeers: ReadonlySet<string>): void {
  if (change.privateKey !== undefined) checkKey(change.privateKey, 'private_key');
  if (change.listenPort !== undefined && (!Number.isInteger(change.listenPort) || change.listenPort < 0 || change.listenPort > 65_535)) {
    invalid(`listen_port ${change.listenPort} out of range`);
  }
  if (change.fwmark !== undefined && (!Number.isInteger(change.fwmark) || change.fwmark < 0 || change.fwmark > 0xffff_ffff)) invalid(`fwmark ${change.fwmark} out of range`);
  const own = ownPublicKey === undefined ? undefined : toHex(ownPublicKey);
  const peers = new Set(change.replacePeers ? [] : existingPeers);
  for (const [i, p] of change.peers.entries()) {
    const what = `peer ${i}`;
    checkKey(p.publicKey, `${what}: public_key`);
    if (p.presharedKey !== undefined) checkKey(p.presharedKey, `${what}: preshared_key`);
    if (p.endpoint !== undefined) checkEndpoint(p.endpoint, `${what}: endpoint`);
    const ka = p.persistentKeepaliveIntervalS;
    if (ka !== undefined && (!Number.isInteger(ka) || ka < 0 || ka > MAX_PERSISTENT_KEEPALIVE_S)) invalid(`${what}: persistent_keepalive_interval ${ka} out of range`);
    for (const a of p.allowedIps) checkPrefix(a, `${what}: allowed_ip`);
    for (const a of p.removedAllowedIps) checkPrefix(a, `${what}: allowed_ip=-`);
    const key = toHex(p.publicKey);
    if (key === own) continue; // ignored, as wg-go does
    if (p.remove) peers.delete(key);
    else if (!p.updateOnly) peers.add(key);
  }
  if (peers.size > MAX_PEERS) invalid(`more than ${MAX_PEERS} peers`);
}
