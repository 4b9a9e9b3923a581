/**
 * The cross-platform userspace configuration protocol (UAPI) as plain text in, typed values out
 * (wireguard.md §2.2; https://www.wireguard.com/xplatform/). Sans-IO: the socket edge
 * (io/uapi-server.ts) feeds stream chunks to `UapiRequestFramer`, parses each framed request
 * with `parseUapiRequest`, and answers with `renderGetResponse` / `renderErrno`.
 *
 * Unlike wireguard-go, which applies `set` lines one by one as it reads them, a `set` request
 * here is validated as a whole first: any bad line rejects the request and nothing is applied.
 */
import { fromHex, isAllZero, toHex } from '../runtime/bytes.js';
import type { DeviceConfigChange, DeviceStatus, IpPrefix, PeerConfigChange, Endpoint } from './device-api.js';
import { formatEndpoint, formatIpPrefix, parseEndpoint, parseIpPrefix } from './ip-text.js';

/** Negative Linux errno values the protocol answers with (`errno=N`). */
export const UAPI_ERRNO = {
  OK: 0,
  /** I/O failure while applying (the core rejected the change). */
  EIO: -5,
  /** Bad key or bad value. */
  EINVAL: -22,
  /** Unparsable line or unknown operation. */
  EPROTO: -71,
  /** Binding the listen port or setting the fwmark failed. */
  EADDRINUSE: -98,
} as const;
export type UapiErrno = (typeof UAPI_ERRNO)[keyof typeof UAPI_ERRNO];

/**
 * Bounds on one request. The kernel's netns test configures one peer with 65,281 allowed IPs
 * (about 2 MB of `allowed_ip=` lines), so the caps leave room for that and not much more.
 */
export const MAX_UAPI_REQUEST_BYTES = 8 * 1024 * 1024;
export const MAX_UAPI_REQUEST_LINES = 262_144;
/** The longest valid line is `allowed_ip=-` plus an IPv6 prefix (under 60 bytes); 1 KiB is generous. */
export const MAX_UAPI_LINE_BYTES = 1024;

/** 32-byte keys travel as exactly 64 hex digits (lowercase when we write them). */
const KEY_HEX_CHARS = 64;
const NEWLINE = 0x0a;

export type UapiFrame =
  /** A complete request: its lines without the terminating blank line; the first is the operation. */
  | { readonly type: 'request'; readonly lines: readonly string[] }
  /** The peer broke a bound; the stream cannot be resynchronised, so the connection should close. */
  | { readonly type: 'overflow' };

/**
 * Splits a byte stream into requests at blank lines. Bounded: a line longer than
 * `MAX_UAPI_LINE_BYTES`, or a request over `MAX_UAPI_REQUEST_BYTES` / `MAX_UAPI_REQUEST_LINES`,
 * yields one `overflow` frame and the framer ignores everything after it.
 */
export class UapiRequestFramer {
  #partial = '';
  #lines: string[] = [];
  #requestBytes = 0;
  #failed = false;

  /** Feeds a chunk; returns the frames it completed, in order. Never throws. */
  push(chunk: Uint8Array): UapiFrame[] {
    const frames: UapiFrame[] = [];
    if (this.#failed) return frames;
    let start = 0;
    while (start <= chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl < 0 ? chunk.length : nl;
      const segmentBytes = end - start;
      this.#requestBytes += segmentBytes + (nl < 0 ? 0 : 1);
      if (this.#partial.length + segmentBytes > MAX_UAPI_LINE_BYTES || this.#requestBytes > MAX_UAPI_REQUEST_BYTES) {
        return this.#fail(frames);
      }
      // Latin-1 keeps one char per byte, so a chunk boundary inside a line cannot corrupt it.
      if (segmentBytes > 0) this.#partial += String.fromCharCode(...chunk.subarray(start, end));
      if (nl < 0) break;
      const line = this.#partial;
      this.#partial = '';
      if (line === '') {
        frames.push({ type: 'request', lines: this.#lines });
        this.#lines = [];
        this.#requestBytes = 0;
      } else {
        if (this.#lines.length >= MAX_UAPI_REQUEST_LINES) return this.#fail(frames);
        this.#lines.push(line);
      }
      start = nl + 1;
    }
    return frames;
  }

  #fail(frames: UapiFrame[]): UapiFrame[] {
    this.#failed = true;
    this.#partial = '';
    this.#lines = [];
    frames.push({ type: 'overflow' });
    return frames;
  }
}

export type UapiRequest =
  | { readonly op: 'get' }
  | { readonly op: 'set'; readonly change: DeviceConfigChange }
  /** `fatal`: the operation line itself was unknown; answer and close the connection. */
  | { readonly op: 'error'; readonly errno: UapiErrno; readonly reason: string; readonly fatal: boolean };

interface PeerBuilder {
  publicKey: Uint8Array;
  remove: boolean;
  updateOnly: boolean;
  presharedKey?: Uint8Array;
  endpoint?: Endpoint;
  persistentKeepaliveIntervalS?: number;
  replaceAllowedIps: boolean;
  allowedIps: IpPrefix[];
  removedAllowedIps: IpPrefix[];
}

function parseKey(value: string): Uint8Array | undefined {
  if (value.length !== KEY_HEX_CHARS || !/^[0-9a-fA-F]+$/.test(value)) return undefined;
  return fromHex(value);
}

/** Decimal unsigned integer up to `max` (wireguard-go: strconv.ParseUint(value, 10, bits)). */
function parseUint(value: string, max: number): number | undefined {
  if (!/^[0-9]{1,10}$/.test(value)) return undefined;
  const n = Number(value);
  return n <= max ? n : undefined;
}

function error(errno: UapiErrno, reason: string, fatal = false): UapiRequest {
  return { op: 'error', errno, reason, fatal };
}

/** Parses one framed request (see `UapiRequestFramer`). Never throws. */
export function parseUapiRequest(lines: readonly string[]): UapiRequest {
  const [opLine, ...rest] = lines;
  if (opLine === 'get=1') {
    return rest.length === 0 ? { op: 'get' } : error(UAPI_ERRNO.EINVAL, 'trailing lines after get=1');
  }
  if (opLine !== 'set=1') return error(UAPI_ERRNO.EPROTO, 'unknown operation', true);
  return parseSetLines(rest);
}

function parseSetLines(lines: readonly string[]): UapiRequest {
  let privateKey: Uint8Array | undefined;
  let listenPort: number | undefined;
  let fwmark: number | undefined;
  let replacePeers = false;
  const peers: PeerBuilder[] = [];
  let peer: PeerBuilder | undefined;
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq < 0) return error(UAPI_ERRNO.EPROTO, 'line without "="');
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'public_key') {
      const publicKey = parseKey(value);
      if (!publicKey) return error(UAPI_ERRNO.EINVAL, 'bad public_key');
      peer = { publicKey, remove: false, updateOnly: false, replaceAllowedIps: false, allowedIps: [], removedAllowedIps: [] };
      peers.push(peer);
      continue;
    }
    if (!peer) {
      // Device section: only valid before the first public_key line.
      switch (key) {
        case 'private_key':
          privateKey = parseKey(value);
          if (!privateKey) return error(UAPI_ERRNO.EINVAL, 'bad private_key');
          break;
        case 'listen_port':
          listenPort = parseUint(value, 0xffff);
          if (listenPort === undefined) return error(UAPI_ERRNO.EINVAL, 'bad listen_port');
          break;
        case 'fwmark':
          fwmark = parseUint(value, 0xffff_ffff);
          if (fwmark === undefined) return error(UAPI_ERRNO.EINVAL, 'bad fwmark');
          break;
        case 'replace_peers':
          if (value !== 'true') return error(UAPI_ERRNO.EINVAL, 'bad replace_peers');
          replacePeers = true;
          break;
        default:
          return error(UAPI_ERRNO.EINVAL, `unknown device key "${key.slice(0, 40)}"`);
      }
      continue;
    }
    const problem = applyPeerLine(peer, key, value);
    if (problem !== undefined) return error(UAPI_ERRNO.EINVAL, problem);
  }
  const change: DeviceConfigChange = {
    ...(privateKey !== undefined ? { privateKey } : {}),
    ...(listenPort !== undefined ? { listenPort } : {}),
    ...(fwmark !== undefined ? { fwmark } : {}),
    replacePeers,
    peers: peers.map((p): PeerConfigChange => ({ ...p })),
  };
  return { op: 'set', change };
}

/** Applies one peer-section line to the builder; returns a reason when the line is invalid. */
function applyPeerLine(peer: PeerBuilder, key: string, value: string): string | undefined {
  switch (key) {
    case 'remove':
      if (value !== 'true') return 'bad remove';
      peer.remove = true;
      return undefined;
    case 'update_only':
      if (value !== 'true') return 'bad update_only';
      peer.updateOnly = true;
      return undefined;
    case 'preshared_key': {
      const k = parseKey(value);
      if (!k) return 'bad preshared_key';
      peer.presharedKey = k;
      return undefined;
    }
    case 'endpoint': {
      const ep = parseEndpoint(value);
      if (!ep) return 'bad endpoint';
      peer.endpoint = ep;
      return undefined;
    }
    case 'persistent_keepalive_interval': {
      const s = parseUint(value, 0xffff);
      if (s === undefined) return 'bad persistent_keepalive_interval';
      peer.persistentKeepaliveIntervalS = s;
      return undefined;
    }
    case 'replace_allowed_ips':
      if (value !== 'true') return 'bad replace_allowed_ips';
      peer.replaceAllowedIps = true;
      // Prefixes listed earlier in this section are replaced too, as they would be line by line.
      peer.allowedIps = [];
      return undefined;
    case 'allowed_ip': {
      const removing = value.startsWith('-');
      const prefix = parseIpPrefix(removing ? value.slice(1) : value);
      if (!prefix) return 'bad allowed_ip';
      (removing ? peer.removedAllowedIps : peer.allowedIps).push(prefix);
      return undefined;
    }
    case 'protocol_version':
      return value === '1' ? undefined : 'unsupported protocol_version';
    default:
      return `unknown peer key "${key.slice(0, 40)}"`;
  }
}

/** What the edges know that the core does not: the bound port and the socket mark. */
export interface UapiInterfaceInfo {
  /** The port actually bound (after `listen_port=0` picked one); 0 when not bound. */
  readonly listenPort: number;
  readonly fwmark: number;
}

/** Renders `errno=N` plus the blank line that ends every reply. */
export function renderErrno(errno: number): string {
  return `errno=${errno}\n\n`;
}

/** Renders the full reply to `get=1`, including the final `errno=0` and blank line. */
export function renderGetResponse(status: DeviceStatus, info: UapiInterfaceInfo): string {
  const out: string[] = [];
  if (status.privateKey && !isAllZero(status.privateKey)) out.push(`private_key=${toHex(status.privateKey)}`);
  if (info.listenPort !== 0) out.push(`listen_port=${info.listenPort}`);
  if (info.fwmark !== 0) out.push(`fwmark=${info.fwmark}`);
  for (const p of status.peers) {
    out.push(`public_key=${toHex(p.publicKey)}`);
    out.push(`preshared_key=${toHex(p.presharedKey)}`);
    out.push('protocol_version=1');
    if (p.endpoint) out.push(`endpoint=${formatEndpoint(p.endpoint)}`);
    const ms = p.lastHandshakeWallMs > 0 ? p.lastHandshakeWallMs : 0;
    const sec = Math.floor(ms / 1000);
    // Millisecond doubles near 2^41 carry about a microsecond of precision; render whole microseconds.
    const nsec = Math.min(999_999, Math.round((ms - sec * 1000) * 1000)) * 1000;
    out.push(`last_handshake_time_sec=${sec}`);
    out.push(`last_handshake_time_nsec=${nsec}`);
    out.push(`tx_bytes=${p.txBytes}`);
    out.push(`rx_bytes=${p.rxBytes}`);
    out.push(`persistent_keepalive_interval=${p.persistentKeepaliveIntervalS}`);
    for (const a of p.allowedIps) out.push(`allowed_ip=${formatIpPrefix(a)}`);
  }
  out.push('errno=0', '', '');
  return out.join('\n');
}

/** Renders a change as a `set=1` request (what `wg setconf` would send); used by tests and tools. */
export function formatSetRequest(change: DeviceConfigChange): string {
  const out: string[] = ['set=1'];
  if (change.privateKey) out.push(`private_key=${toHex(change.privateKey)}`);
  if (change.listenPort !== undefined) out.push(`listen_port=${change.listenPort}`);
  if (change.fwmark !== undefined) out.push(`fwmark=${change.fwmark}`);
  if (change.replacePeers) out.push('replace_peers=true');
  for (const p of change.peers) {
    out.push(`public_key=${toHex(p.publicKey)}`);
    if (p.remove) out.push('remove=true');
    if (p.updateOnly) out.push('update_only=true');
    if (p.presharedKey) out.push(`preshared_key=${toHex(p.presharedKey)}`);
    if (p.endpoint) out.push(`endpoint=${formatEndpoint(p.endpoint)}`);
    if (p.persistentKeepaliveIntervalS !== undefined) out.push(`persistent_keepalive_interval=${p.persistentKeepaliveIntervalS}`);
    if (p.replaceAllowedIps) out.push('replace_allowed_ips=true');
    for (const a of p.allowedIps) out.push(`allowed_ip=${formatIpPrefix(a)}`);
    for (const a of p.removedAllowedIps) out.push(`allowed_ip=-${formatIpPrefix(a)}`);
  }
  out.push('', '');
  return out.join('\n');
}
