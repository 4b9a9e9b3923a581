/**
 * The `wireguard:` section of a tsplane config → typed interfaces and peers, ready to become a
 * `DeviceConfigChange` (src/wireguard/device-api.ts). An interface is written inline or points
 * at a wg-quick `.conf` file (`config_file:`), parsed by src/wireguard/wg-quick-conf.ts; either
 * way every mistake is a ConfigError naming the file, line and key, and key material is never
 * quoted. `peerDiff` computes the change that moves a running device from one config to the
 * next (SIGHUP) without touching unchanged peers, so their sessions survive.
 */
import { ConfigError, type ConfigNode } from './runtime/config-file.js';
import { formatIpAddress, parseIpAddress, parseIpPrefix, type IpPrefix as CidrPrefix } from './runtime/ip-address.js';
import type { DeviceConfigChange, Endpoint, IpPrefix, PeerConfigChange } from './wireguard/device-api.js';
import { parseEndpointText, type EndpointHost, type ParsedEndpoint } from './wireguard/endpoint-text.js';
import { parseWgQuickConf, splitList, type WgQuickValue } from './wireguard/wg-quick-conf.js';

export interface WgPeerConfig {
  /** MagicDNS name (a DNS label after normalisation), if given. */
  readonly name?: string;
  readonly publicKey: Uint8Array;
  /** Base64 public key, as `wg` prints it (safe to log). */
  readonly publicKeyText: string;
  readonly presharedKey?: Uint8Array;
  readonly endpoint?: Endpoint;
  /** A `HOST:PORT` endpoint: resolved (and re-resolved while the peer is quiet) at run time. */
  readonly endpointHost?: EndpointHost;
  readonly allowedIps: readonly IpPrefix[];
  /** Allowed IPs as canonical CIDR text (for diffs, logs and MagicDNS). */
  readonly allowedIpsText: readonly string[];
  /** Seconds; 0 = off. */
  readonly persistentKeepaliveS: number;
}

export interface WgInterfaceConfig {
  /** The TUN interface name (and UAPI socket name). */
  readonly name: string;
  readonly privateKey: Uint8Array;
  /** 0 = a random port. */
  readonly listenPort: number;
  readonly fwmark: number;
  /** Interface addresses with prefix length, e.g. `10.77.0.1/24` (assigned with `ip address add`). */
  readonly addresses: readonly string[];
  /** wg-quick `DNS =` values, recorded (tsplane run does not rewrite resolv.conf). */
  readonly dns: readonly string[];
  readonly mtu: number;
  readonly peers: readonly WgPeerConfig[];
  /** `inline` or the wg-quick file it came from. */
  readonly source: string;
  /** `optional: true`: run only as root and when the private key is available. */
  readonly optional: boolean;
  /** `derp_url`: a DERP relay to fall back to when direct UDP to a peer fails (a tsplane extension). */
  readonly derpUrl?: readonly string[];
}

export interface WireguardConfig {
  readonly interfaces: readonly WgInterfaceConfig[];
  /** Optional interfaces left out because their private key was not given (name, reason). */
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
  /** Peers with a `name` are answered as `<name>.<suffix>` by the DNS forwarder. */
  readonly magicDns: { readonly suffix: string; readonly ttlS: number } | undefined;
}

/** wg-quick's interface name rule (IFNAMSIZ 16 with the NUL). */
const IFNAME_RE = /^[a-zA-Z0-9_=+.-]{1,15}$/;
/** A 32-byte key in base64: 43 characters and one `=`, last character with the low bits zero. */
const KEY_B64_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const DEFAULT_MTU = 1420;
const DEFAULT_MAGIC_DNS_TTL_S = 60;

/** Reads a file as text (throws with `code` on failure); injected so tests need no disk. */
export type ReadText = (absolutePath: string) => string;

/** Decodes a base64 WireGuard key, or undefined. */
export function decodeKey(text: string): Uint8Array | undefined {
  if (!KEY_B64_RE.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** Validates the `wireguard:` mapping. */
export function parseWireguardConfig(node: ConfigNode, readText: ReadText | undefined): WireguardConfig {
  node.expectKeys(['interfaces', 'magic_dns']);
  const items = node.require('interfaces').list();
  const interfaces: WgInterfaceConfig[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const names = new Map<string, number>();
  items.forEach((n, i) => {
    const iface = parseInterface(n, readText);
    const first = names.get(iface.name);
    if (first !== undefined) n.fail(`interface name '${iface.name}' is used twice (also interfaces[${first}])`);
    names.set(iface.name, i);
    if ('skipped' in iface) skipped.push({ name: iface.name, reason: iface.skipped });
    else interfaces.push(iface);
  });
  const md = node.get('magic_dns');
  let magicDns: WireguardConfig['magicDns'];
  if (md) {
    md.expectKeys(['suffix', 'ttl']);
    const suffixNode = md.require('suffix');
    const suffix = suffixNode.string().toLowerCase().replace(/\.$/, '');
    if (!/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(suffix)) suffixNode.fail(`'${suffix}' is not a domain name`);
    const ttl = md.get('ttl');
    magicDns = { suffix, ttlS: ttl ? Math.floor(ttl.duration({ minMs: 0, maxMs: 86_400_000 }) / 1000) : DEFAULT_MAGIC_DNS_TTL_S };
  }
  return { interfaces, skipped, magicDns };
}

type ParsedInterface = WgInterfaceConfig | { readonly name: string; readonly skipped: string };

function parseInterface(n: ConfigNode, readText: ReadText | undefined): ParsedInterface {
  n.expectKeys(['name', 'config_file', 'optional', 'listen_port', 'fwmark', 'address', 'dns', 'mtu', 'peers', 'derp_url'], { secrets: ['private_key'] });
  const optional = n.get('optional')?.bool() ?? false;
  // Not a wg-quick key, so it may stand beside config_file as well as inline keys.
  const derpUrlNode = n.get('derp_url');
  const derp = derpUrlNode ? { derpUrl: derpUrlNode.listOrOne().map((u) => u.url(['http', 'https', 'ws', 'wss']).href) } : {};
  const fileNode = n.get('config_file');
  if (fileNode) {
    for (const k of ['listen_port', 'fwmark', 'address', 'dns', 'mtu', 'peers']) {
      if (n.has(k)) n.require(k).fail('set this in the wg-quick file named by config_file, not here');
    }
    const parsed = parseConfFile(n, fileNode, readText, optional);
    return 'skipped' in parsed ? parsed : { ...parsed, ...derp };
  }
  const nameNode = n.require('name');
  const name = nameNode.string();
  if (!IFNAME_RE.test(name)) nameNode.fail(`'${name}' is not an interface name (1–15 of a-z A-Z 0-9 _ = + . -)`);
  const unavailable = optionalSecretMissing(n, optional);
  if (unavailable !== undefined) return { name, skipped: unavailable };
  const pkSecret = n.secret('private_key');
  if (pkSecret === undefined) n.fail('missing required key private_key (or private_key_file / private_key_env)');
  const pkNode = n.get('private_key') ?? n.get('private_key_file') ?? n.require('private_key_env');
  const privateKey = decodeKey(pkSecret.reveal()) ?? pkNode.fail('not a base64 WireGuard key (44 characters; value not shown: secret)');
  const peersNode = n.get('peers');
  const peers = peersNode ? peersNode.list().map(parseInlinePeer) : [];
  checkPeersUnique(peers, (i, problem) => peersNode!.list()[i]!.fail(problem));
  const addresses = n.get('address')?.listOrOne().map(interfaceAddress) ?? [];
  return {
    name,
    privateKey,
    listenPort: n.get('listen_port')?.port({ allowZero: true }) ?? 0,
    fwmark: n.get('fwmark')?.int({ min: 0, max: 0xffffffff }) ?? 0,
    addresses,
    dns: n.get('dns')?.listOrOne().map((d) => formatIpAddress(d.ip())) ?? [],
    mtu: n.get('mtu')?.int({ min: 576, max: 65535 }) ?? DEFAULT_MTU,
    peers,
    source: 'inline',
    optional,
    ...derp,
  };
}

/**
 * For an optional interface: why its private key is unavailable (env unset, file missing), or
 * undefined when it is there (or the interface is not optional: then errors are errors).
 */
function optionalSecretMissing(n: ConfigNode, optional: boolean): string | undefined {
  if (!optional) return undefined;
  try {
    return n.secret('private_key') === undefined && !n.has('config_file') ? 'no private_key given' : undefined;
  } catch (err) {
    if (err instanceof ConfigError && /not set or empty|cannot read secret file/.test(err.message)) return err.message.slice(err.message.indexOf(': ') + 2);
    throw err;
  }
}

function interfaceAddress(a: ConfigNode): string {
  const text = a.string();
  const slash = text.indexOf('/');
  const ip = parseIpAddress(slash < 0 ? text : text.slice(0, slash));
  const bits = slash < 0 ? undefined : Number(text.slice(slash + 1));
  if (!ip || (bits !== undefined && !(Number.isInteger(bits) && bits >= 0 && bits <= (ip.family === 4 ? 32 : 128)))) {
    a.fail(`'${text}' is not an interface address like 10.77.0.1/24`);
  }
  return `${formatIpAddress(ip)}/${bits ?? (ip.family === 4 ? 32 : 128)}`;
}

function parseInlinePeer(p: ConfigNode): WgPeerConfig {
  p.expectKeys(['name', 'public_key', 'endpoint', 'allowed_ips', 'persistent_keepalive'], { secrets: ['preshared_key'] });
  const pkNode = p.require('public_key');
  const publicKeyText = pkNode.string();
  const publicKey = decodeKey(publicKeyText) ?? pkNode.fail(`'${publicKeyText}' is not a base64 WireGuard key (44 characters)`);
  const psk = p.secret('preshared_key');
  let presharedKey: Uint8Array | undefined;
  if (psk) {
    const pskNode = p.get('preshared_key') ?? p.get('preshared_key_file') ?? p.require('preshared_key_env');
    presharedKey = decodeKey(psk.reveal()) ?? pskNode.fail('not a base64 WireGuard key (value not shown: secret)');
  }
  const epNode = p.get('endpoint');
  const allowed = p.get('allowed_ips')?.listOrOne().map((a) => ({ value: a.string(), line: a.line, node: a })) ?? [];
  const allowedIps: IpPrefix[] = [];
  const allowedIpsText: string[] = [];
  for (const a of allowed) {
    const prefix = allowedPrefix(a.value) ?? a.node.fail(`'${a.value}' is not a CIDR prefix like 10.77.0.2/32`);
    allowedIps.push(prefix.device);
    allowedIpsText.push(prefix.text);
  }
  const ka = p.get('persistent_keepalive');
  let persistentKeepaliveS = 0;
  if (ka) persistentKeepaliveS = ka.kind === 'number' ? ka.int({ min: 0, max: 65535 }) : Math.floor(ka.duration({ maxMs: 65_535_000 }) / 1000);
  const nameNode = p.get('name');
  return {
    ...(nameNode ? { name: peerName(nameNode.string(), (m) => nameNode.fail(m)) } : {}),
    publicKey,
    publicKeyText,
    ...(presharedKey ? { presharedKey } : {}),
    ...(epNode ? endpointFields(parseEndpointText(epNode.string()), (m) => epNode.fail(m)) : {}),
    allowedIps,
    allowedIpsText,
    persistentKeepaliveS,
  };
}

function parseConfFile(n: ConfigNode, fileNode: ConfigNode, readText: ReadText | undefined, optional: boolean): ParsedInterface {
  const path = fileNode.filePath();
  if (readText === undefined) fileNode.fail('files cannot be read here');
  let text: string;
  try {
    text = readText(path);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    fileNode.fail(`cannot read ${path}${typeof code === 'string' ? ` (${code})` : ''}`);
  }
  const parsed = parseWgQuickConf(text);
  if (!parsed.ok) throw new ConfigError(path, parsed.line, parsed.key, parsed.problem);
  const { iface, peers: peerSections } = parsed.conf;
  const fail = (v: WgQuickValue | undefined, key: string, problem: string): never => {
    throw new ConfigError(path, v?.line ?? iface.line, key, problem);
  };
  const one = (key: Parameters<typeof iface.values.get>[0]): WgQuickValue | undefined => iface.values.get(key)?.[0];
  for (const hook of ['PreUp', 'PostUp', 'PreDown', 'PostDown', 'Table', 'SaveConfig'] as const) {
    const v = one(hook);
    if (v) fail(v, `[Interface].${hook}`, 'not supported by tsplane run (hooks and routing tables are wg-quick features); remove it');
  }
  const base = /([^/]+?)(\.conf)?$/.exec(path)?.[1] ?? '';
  const nameNode = n.get('name');
  const name = nameNode ? nameNode.string() : base;
  if (!IFNAME_RE.test(name)) (nameNode ?? fileNode).fail(`'${name}' is not an interface name (1–15 of a-z A-Z 0-9 _ = + . -); set name:`);
  const unavailable = optionalSecretMissing(n, optional);
  if (unavailable !== undefined) return { name, skipped: unavailable };
  // A private key in the YAML (e.g. a mounted secret) overrides the file's.
  const yamlSecret = n.secret('private_key');
  let privateKey: Uint8Array;
  if (yamlSecret) {
    const keyNode = n.get('private_key') ?? n.get('private_key_file') ?? n.require('private_key_env');
    privateKey = decodeKey(yamlSecret.reveal()) ?? keyNode.fail('not a base64 WireGuard key (value not shown: secret)');
  } else {
    const v = one('PrivateKey') ?? fail(undefined, '[Interface].PrivateKey', 'missing (or give private_key_file in the YAML)');
    privateKey = decodeKey(v.value) ?? fail(v, '[Interface].PrivateKey', 'not a base64 WireGuard key (value not shown: secret)');
  }
  const intValue = (key: 'ListenPort' | 'MTU' | 'FwMark', min: number, max: number, fallback: number): number => {
    const v = one(key);
    if (!v) return fallback;
    if (key === 'FwMark' && v.value.toLowerCase() === 'off') return 0;
    const num = /^0x[0-9a-f]+$/i.test(v.value) ? parseInt(v.value, 16) : /^\d+$/.test(v.value) ? Number(v.value) : NaN;
    if (!(num >= min && num <= max)) fail(v, `[Interface].${key}`, `'${v.value}' is not a number in ${min}–${max}`);
    return num;
  };
  const addresses = splitList(iface.values.get('Address')).map((v) => {
    const slash = v.value.indexOf('/');
    const ip = parseIpAddress(slash < 0 ? v.value : v.value.slice(0, slash));
    const bits = slash < 0 ? (ip?.family === 4 ? 32 : 128) : Number(v.value.slice(slash + 1));
    if (!ip || !(Number.isInteger(bits) && bits >= 0 && bits <= (ip.family === 4 ? 32 : 128))) fail(v, '[Interface].Address', `'${v.value}' is not an address like 10.77.0.1/24`);
    return `${formatIpAddress(ip!)}/${bits}`;
  });
  // wg-quick's DNS = takes addresses and search domains; both are recorded.
  const dns = splitList(iface.values.get('DNS')).map((v) => v.value);
  const peers = peerSections.map((s, i): WgPeerConfig => {
    const key = (k: string) => `[Peer ${i + 1}].${k}`;
    const get = (k: Parameters<typeof s.values.get>[0]) => s.values.get(k)?.[0];
    const pk = get('PublicKey') ?? fail({ value: '', line: s.line }, key('PublicKey'), 'missing');
    const publicKey = decodeKey(pk.value) ?? fail(pk, key('PublicKey'), `'${pk.value.slice(0, 50)}' is not a base64 WireGuard key`);
    const psk = get('PresharedKey');
    const presharedKey = psk ? (decodeKey(psk.value) ?? fail(psk, key('PresharedKey'), 'not a base64 WireGuard key (value not shown: secret)')) : undefined;
    const ep = get('Endpoint');
    const endpoint = ep ? endpointFields(parseEndpointText(ep.value), (m) => fail(ep, key('Endpoint'), m)) : {};
    const allowedIps: IpPrefix[] = [];
    const allowedIpsText: string[] = [];
    for (const v of splitList(s.values.get('AllowedIPs'))) {
      const prefix = allowedPrefix(v.value) ?? fail(v, key('AllowedIPs'), `'${v.value}' is not a CIDR prefix`);
      allowedIps.push(prefix.device);
      allowedIpsText.push(prefix.text);
    }
    const ka = get('PersistentKeepalive');
    let persistentKeepaliveS = 0;
    if (ka && ka.value.toLowerCase() !== 'off') {
      persistentKeepaliveS = /^\d+$/.test(ka.value) ? Number(ka.value) : NaN;
      if (!(persistentKeepaliveS <= 65535)) fail(ka, key('PersistentKeepalive'), `'${ka.value}' is not off or 0–65535`);
    }
    const name = s.name ? peerName(s.name.value, (m) => fail(s.name, key('# Name'), m)) : undefined;
    return {
      ...(name ? { name } : {}), publicKey, publicKeyText: pk.value, ...(presharedKey ? { presharedKey } : {}),
      ...endpoint, allowedIps, allowedIpsText, persistentKeepaliveS,
    };
  });
  checkPeersUnique(peers, (i, problem) => fail({ value: '', line: peerSections[i]!.line }, `[Peer ${i + 1}]`, problem));
  return {
    name, privateKey, listenPort: intValue('ListenPort', 0, 65535, 0), fwmark: intValue('FwMark', 0, 0xffffffff, 0),
    addresses, dns, mtu: intValue('MTU', 576, 65535, DEFAULT_MTU), peers, source: path, optional,
  };
}

function checkPeersUnique(peers: readonly WgPeerConfig[], fail: (index: number, problem: string) => never): void {
  const keys = new Map<string, number>();
  const names = new Map<string, number>();
  peers.forEach((p, i) => {
    const k = keys.get(p.publicKeyText);
    if (k !== undefined) fail(i, `the same public key as peer ${k + 1}`);
    keys.set(p.publicKeyText, i);
    if (p.name !== undefined) {
      const n = names.get(p.name);
      if (n !== undefined) fail(i, `the same name '${p.name}' as peer ${n + 1}`);
      names.set(p.name, i);
    }
  });
}

function peerName(text: string, fail: (problem: string) => never): string {
  const label = text.toLowerCase();
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) fail(`'${text.slice(0, 63)}' is not a DNS label (letters, digits, inner hyphens; ≤ 63)`);
  return label;
}

function allowedPrefix(text: string): { device: IpPrefix; text: string } | undefined {
  // wg accepts host bits (it masks them); so does the trie. Text is canonicalised for diffs.
  const p: CidrPrefix | undefined = parseIpPrefix(text) ?? (() => {
    const ip = parseIpAddress(text);
    return ip ? { family: ip.family, bytes: ip.bytes, prefixLength: ip.family === 4 ? 32 : 128 } : undefined;
  })();
  if (!p) return undefined;
  return {
    device: { family: p.family, address: p.bytes, bits: p.prefixLength },
    text: `${formatIpAddress({ family: p.family, bytes: p.bytes })}/${p.prefixLength}`,
  };
}

function endpointFields(p: ParsedEndpoint, fail: (problem: string) => never): { endpoint: Endpoint } | { endpointHost: EndpointHost } {
  if (p.kind === 'error') return fail(p.problem);
  return p.kind === 'ip' ? { endpoint: p.endpoint } : { endpointHost: p.endpoint };
}

/** The full configuration of an interface as a device change (replaces every peer). */
export function fullDeviceConfig(iface: WgInterfaceConfig): DeviceConfigChange {
  // listen_port 0 means "any": the UDP edge already bound a random port, so leave it alone.
  return {
    privateKey: iface.privateKey, ...(iface.listenPort !== 0 ? { listenPort: iface.listenPort } : {}), fwmark: iface.fwmark,
    replacePeers: true, peers: iface.peers.map(peerChange),
  };
}

function peerChange(p: WgPeerConfig): PeerConfigChange {
  return {
    publicKey: p.publicKey, remove: false, updateOnly: false, presharedKey: p.presharedKey ?? new Uint8Array(32),
    ...(p.endpoint ? { endpoint: p.endpoint } : {}),
    persistentKeepaliveIntervalS: p.persistentKeepaliveS, replaceAllowedIps: true, allowedIps: p.allowedIps, removedAllowedIps: [],
  };
}

function samePeer(a: WgPeerConfig, b: WgPeerConfig): boolean {
  const psk = (k: Uint8Array | undefined) => (k ? Buffer.from(k).toString('hex') : '');
  return psk(a.presharedKey) === psk(b.presharedKey)
    && (a.endpoint ? `${a.endpoint.address}:${a.endpoint.port}` : '') === (b.endpoint ? `${b.endpoint.address}:${b.endpoint.port}` : '')
    && (a.endpointHost ? `${a.endpointHost.host}:${a.endpointHost.port}` : '') === (b.endpointHost ? `${b.endpointHost.host}:${b.endpointHost.port}` : '')
    && a.persistentKeepaliveS === b.persistentKeepaliveS
    && a.allowedIpsText.join(',') === b.allowedIpsText.join(',');
}

/**
 * The change that turns a device configured as `before` into `after`: removed peers get
 * `remove`, new and changed peers their full settings, unchanged peers are not mentioned (so
 * their sessions and endpoints learned by roaming stay). Undefined when nothing changed.
 */
export function peerDiff(before: WgInterfaceConfig, after: WgInterfaceConfig): DeviceConfigChange | undefined {
  const old = new Map(before.peers.map((p) => [p.publicKeyText, p]));
  const peers: PeerConfigChange[] = [];
  for (const p of after.peers) {
    const o = old.get(p.publicKeyText);
    if (!o || !samePeer(o, p)) peers.push(peerChange(p));
  }
  const next = new Set(after.peers.map((p) => p.publicKeyText));
  for (const p of before.peers) {
    if (!next.has(p.publicKeyText)) {
      peers.push({ publicKey: p.publicKey, remove: true, updateOnly: false, replaceAllowedIps: false, allowedIps: [], removedAllowedIps: [] });
    }
  }
  const keyChanged = Buffer.compare(Buffer.from(before.privateKey), Buffer.from(after.privateKey)) !== 0;
  const portChanged = before.listenPort !== after.listenPort;
  const markChanged = before.fwmark !== after.fwmark;
  if (peers.length === 0 && !keyChanged && !portChanged && !markChanged) return undefined;
  return {
    ...(keyChanged ? { privateKey: after.privateKey } : {}),
    ...(portChanged ? { listenPort: after.listenPort } : {}),
    ...(markChanged ? { fwmark: after.fwmark } : {}),
    replacePeers: false,
    peers,
  };
}

/** MagicDNS inputs: each named peer with the address of its first /32 and first /128 allowed IP. */
export function magicDnsPeers(interfaces: readonly WgInterfaceConfig[]): { name: string; addresses: string[] }[] {
  const out: { name: string; addresses: string[] }[] = [];
  for (const iface of interfaces) {
    for (const p of iface.peers) {
      if (p.name === undefined) continue;
      const v4 = p.allowedIpsText.find((t) => t.endsWith('/32') && !t.includes(':'));
      const v6 = p.allowedIpsText.find((t) => t.endsWith('/128') && t.includes(':'));
      const addresses = [v4, v6].filter((a): a is string => a !== undefined).map((a) => a.slice(0, a.indexOf('/')));
      if (addresses.length > 0) out.push({ name: p.name, addresses });
    }
  }
  return out;
}
