import { describe, expect, it } from 'vitest';
import { parseTsplaneConfig } from '../../src/config.js';
import { decodeKey, magicDnsPeers, peerDiff } from '../../src/config-wireguard.js';
import { ConfigError, parseConfigText } from '../../src/runtime/config-file.js';

const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(32, 2).toString('base64');
const KEY_C = Buffer.alloc(32, 3).toString('base64');
const PRIV = Buffer.alloc(32, 9).toString('base64');

const DNS = `dns:
  listen: 127.0.0.1:0
  upstreams:
    public: { servers: [127.0.0.1:5301] }
`;

function parse(yaml: string, files: Record<string, string> = {}, env: Record<string, string> = {}) {
  const root = parseConfigText(yaml, 'tsplane.yaml', {
    env, baseDir: '/cfg', readFile: (p) => {
      const t = files[p];
      if (t === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return new TextEncoder().encode(t);
    },
  });
  return parseTsplaneConfig(root, (p) => {
    const t = files[p];
    if (t === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return t;
  });
}

function errorOf(yaml: string, files: Record<string, string> = {}, env: Record<string, string> = {}): ConfigError {
  try {
    parse(yaml, files, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('top level', () => {
  it('accepts the DNS section alone and defaults log to info/auto', () => {
    const c = parse(DNS);
    expect(c.dns?.listeners[0]?.port).toBe(0);
    expect(c.derp).toBeUndefined();
    expect(c.log).toEqual({ level: 'info', format: 'auto' });
    expect(c.stopTimeoutMs).toBe(10_000);
  });
  it('rejects a file with no service', () => {
    const e = errorOf('log: { level: info }\n');
    expect(e.message).toMatch(/no service configured/);
  });
  it('names an unknown top-level key with a suggestion, file and line', () => {
    const e = errorOf(`${DNS}metrix:\n  listen: 127.0.0.1:0\n`);
    expect([e.file, e.line, e.key]).toEqual(['tsplane.yaml', 5, 'metrix']);
    expect(e.message).toMatch(/did you mean 'metrics'/);
  });
});

describe('log and metrics sections', () => {
  it('rejects an unknown log level at its line', () => {
    const e = errorOf(`${DNS}log:\n  level: loud\n`);
    expect([e.line, e.key]).toEqual([6, 'log.level']);
  });
  it('rejects a metrics listen address that is not ip:port', () => {
    const e = errorOf(`${DNS}metrics:\n  listen: localhost\n`);
    expect([e.line, e.key]).toEqual([6, 'metrics.listen']);
  });
  it('accepts port 0 for metrics', () => {
    expect(parse(`${DNS}metrics:\n  listen: 127.0.0.1:0\n`).metrics?.listen).toEqual({ host: '127.0.0.1', port: 0 });
  });
});

describe('dns section', () => {
  it('is validated by the dns schema, errors keep the dns. key path', () => {
    const e = errorOf('dns:\n  listen: 127.0.0.1:0\n  upstreams:\n    public: { servers: [127.0.0.1:5301] }\n  default_group: nope\n');
    expect([e.line, e.key]).toEqual([5, 'dns.default_group']);
  });
});

describe('derp section', () => {
  it('has derp defaults (loopback 3340 and STUN 3478)', () => {
    const c = parse('derp: {}\n');
    expect(c.derp?.listen).toEqual({ host: '127.0.0.1', port: 3340 });
    expect(c.derp?.stunListen).toEqual({ host: '127.0.0.1', port: 3478 });
  });
  it('stun_listen: false turns STUN off', () => {
    expect(parse('derp:\n  stun_listen: false\n').derp?.stunListen).toBeUndefined();
  });
  it('rejects a flag name spelled as the CLI spells it', () => {
    const e = errorOf('derp:\n  listen: 127.0.0.1:0\n  verify-clients: x\n');
    expect([e.line, e.key]).toEqual([3, 'derp.verify-clients']);
    expect(e.message).toMatch(/did you mean 'verify_clients'/);
  });
  it('a bad mesh key names the key but never quotes the value', () => {
    const e = errorOf('derp:\n  mesh_key_env: MESH\n', {}, { MESH: 'supersecretvalue' });
    expect(e.key).toBe('derp.mesh_key_env');
    expect(e.message).not.toContain('supersecretvalue');
  });
  it('mesh_with needs a mesh key', () => {
    const e = errorOf('derp:\n  mesh_with: [https://derp2.example/derp]\n');
    expect([e.line, e.key]).toEqual([2, 'derp.mesh_with']);
  });
  it('bootstrap DNS names: a list or one name, and a bad one names its line and key', () => {
    const c = parse('derp:\n  bootstrap_dns_names: [headscale.home.lan, derp.home.lan]\n  unpublished_bootstrap_dns_names: hidden.home.lan\n');
    expect(c.derp?.bootstrapDnsNames).toEqual(['headscale.home.lan', 'derp.home.lan']);
    expect(c.derp?.unpublishedBootstrapDnsNames).toEqual(['hidden.home.lan']);
    expect(parse('derp: {}\n').derp?.bootstrapDnsNames).toEqual([]);
    const e = errorOf('derp:\n  bootstrap_dns_names:\n    - ok.home.lan\n    - https://bad/\n');
    expect(e.line).toBe(4);
    expect(e.key).toMatch(/^derp\.bootstrap_dns_names/);
    expect(e.message).toMatch(/not a hostname/);
  });
  it('reads the mesh key from a file relative to the config', () => {
    const c = parse('derp:\n  mesh_key_file: mesh.key\n', { '/cfg/mesh.key': `${'ab'.repeat(32)}\n` });
    expect(c.derp?.meshKey?.length).toBe(32);
  });
});

describe('wireguard section, inline', () => {
  const wg = (body: string) => `wireguard:\n  interfaces:\n    - name: tsp0\n${body}`;
  it('parses keys, peers, addresses and keepalive', () => {
    const c = parse(wg(`      private_key: ${PRIV}
      listen_port: 51820
      address: [10.77.0.1/24, fd77::1/64]
      peers:
        - name: Laptop
          public_key: ${KEY_A}
          allowed_ips: [10.77.0.2/32, fd77::2/128]
          endpoint: 127.0.0.1:51821
          persistent_keepalive: 25
`));
    const i = c.wireguard!.interfaces[0]!;
    expect(i.name).toBe('tsp0');
    expect(i.listenPort).toBe(51820);
    expect(i.addresses).toEqual(['10.77.0.1/24', 'fd77::1/64']);
    expect(i.peers[0]!.name).toBe('laptop');
    expect(i.peers[0]!.endpoint).toEqual({ family: 4, address: '127.0.0.1', port: 51821 });
    expect(i.peers[0]!.persistentKeepaliveS).toBe(25);
    expect(i.peers[0]!.allowedIpsText).toEqual(['10.77.0.2/32', 'fd77::2/128']);
  });
  it('derp_url names the relay to fall back to; a non-http(s)/ws(s) URL is an error at its line', () => {
    const c = parse(wg(`      private_key: ${PRIV}\n      derp_url: http://127.0.0.1:3340/derp\n`));
    expect(c.wireguard!.interfaces[0]!.derpUrl).toEqual(['http://127.0.0.1:3340/derp']);
    const two = parse(wg(`      private_key: ${PRIV}\n      derp_url: [https://derp1.example/derp, https://derp2.example/derp]\n`));
    expect(two.wireguard!.interfaces[0]!.derpUrl).toEqual(['https://derp1.example/derp', 'https://derp2.example/derp']);
    expect(parse(wg(`      private_key: ${PRIV}\n`)).wireguard!.interfaces[0]!.derpUrl).toBeUndefined();
    const e = errorOf(wg(`      private_key: ${PRIV}\n      derp_url: ftp://127.0.0.1/derp\n`));
    expect([e.line, e.key]).toEqual([5, 'wireguard.interfaces[0].derp_url']);
  });
  it('private_key_env reads the environment; the value never appears in errors', () => {
    const c = parse(wg('      private_key_env: WGKEY\n'), {}, { WGKEY: PRIV });
    expect(Buffer.from(c.wireguard!.interfaces[0]!.privateKey).toString('base64')).toBe(PRIV);
    const e = errorOf(wg('      private_key_env: WGKEY\n'), {}, { WGKEY: 'not-a-key-but-secret' });
    expect([e.line, e.key]).toEqual([4, 'wireguard.interfaces[0].private_key_env']);
    expect(e.message).not.toContain('not-a-key-but-secret');
  });
  it('an inline private key that is not a key is reported without its value', () => {
    const e = errorOf(wg('      private_key: hunter2hunter2\n'));
    expect(e.key).toBe('wireguard.interfaces[0].private_key');
    expect(e.message).not.toContain('hunter2');
  });
  it('missing private key is an error unless optional', () => {
    expect(errorOf(wg('      listen_port: 1\n')).message).toMatch(/private_key/);
    const c = parse(wg('      optional: true\n      private_key_env: NOPE\n'));
    expect(c.wireguard!.interfaces).toHaveLength(0);
    expect(c.wireguard!.skipped[0]!.name).toBe('tsp0');
  });
  it('names a bad allowed IP at its line', () => {
    const e = errorOf(wg(`      private_key: ${PRIV}\n      peers:\n        - public_key: ${KEY_A}\n          allowed_ips: [10.77.0.2/33]\n`));
    expect([e.line, e.key]).toEqual([7, 'wireguard.interfaces[0].peers[0].allowed_ips[0]']);
  });
  it('keeps a host-name endpoint for the runtime to resolve; a malformed one names its key', () => {
    const c = parse(wg(`      private_key: ${PRIV}\n      peers:\n        - public_key: ${KEY_A}\n          endpoint: VPN.example:51820\n`));
    const p = c.wireguard!.interfaces[0]!.peers[0]!;
    expect(p.endpointHost).toEqual({ host: 'vpn.example', port: 51820 });
    expect(p.endpoint).toBeUndefined();
    const e = errorOf(wg(`      private_key: ${PRIV}\n      peers:\n        - public_key: ${KEY_A}\n          endpoint: vpn..example:51820\n`));
    expect([e.line, e.key]).toEqual([7, 'wireguard.interfaces[0].peers[0].endpoint']);
    expect(e.message).toMatch(/HOST:PORT/);
  });
  it('a host-name endpoint change is a peer change on reload; the same name is not', () => {
    const conf = (ep: string) => parse(wg(`      private_key: ${PRIV}\n      peers:\n        - public_key: ${KEY_A}\n          endpoint: ${ep}\n`)).wireguard!.interfaces[0]!;
    expect(peerDiff(conf('a.example:1'), conf('a.example:1'))).toBeUndefined();
    expect(peerDiff(conf('a.example:1'), conf('b.example:1'))?.peers).toHaveLength(1);
  });
  it('rejects two peers with one public key', () => {
    const e = errorOf(wg(`      private_key: ${PRIV}\n      peers:\n        - public_key: ${KEY_A}\n        - public_key: ${KEY_A}\n`));
    expect([e.line, e.key]).toEqual([7, 'wireguard.interfaces[0].peers[1]']);
  });
  it('rejects an interface name longer than 15 characters', () => {
    const e = errorOf(`wireguard:\n  interfaces:\n    - name: abcdefghijklmnopq\n      private_key: ${PRIV}\n`);
    expect([e.line, e.key]).toEqual([3, 'wireguard.interfaces[0].name']);
  });
  it('magic_dns needs a dns section', () => {
    const e = errorOf(`wireguard:\n  magic_dns: { suffix: wg.lan }\n  interfaces:\n    - name: tsp0\n      private_key: ${PRIV}\n`);
    expect(e.key).toBe('wireguard.magic_dns');
  });
});

describe('wireguard section, wg-quick file', () => {
  const conf = `[Interface]
# a comment
privatekey = ${PRIV}
ListenPort = 51820
Address = 10.77.0.1/24, fd77::1/64
DNS = 10.77.0.53, wg.lan
MTU = 1380

[peer]
# Name = nas
PublicKey = ${KEY_A}
AllowedIPs = 10.77.0.5/32
AllowedIPs = fd77::5/128   # a second line accumulates
Endpoint = [::1]:51821
PersistentKeepalive = off
`;
  const yaml = `${DNS}wireguard:\n  magic_dns: { suffix: wg.lan }\n  interfaces:\n    - config_file: wg/tsp1.conf\n`;
  it('parses keys case-insensitively, accumulates lists, records Address/DNS/MTU', () => {
    const c = parse(yaml, { '/cfg/wg/tsp1.conf': conf });
    const i = c.wireguard!.interfaces[0]!;
    expect(i.name).toBe('tsp1');
    expect(i.source).toBe('/cfg/wg/tsp1.conf');
    expect(i.addresses).toEqual(['10.77.0.1/24', 'fd77::1/64']);
    expect(i.dns).toEqual(['10.77.0.53', 'wg.lan']);
    expect(i.mtu).toBe(1380);
    expect(i.peers[0]!.allowedIpsText).toEqual(['10.77.0.5/32', 'fd77::5/128']);
    expect(i.peers[0]!.endpoint).toEqual({ family: 6, address: '::1', port: 51821 });
    expect(i.peers[0]!.persistentKeepaliveS).toBe(0);
    expect(magicDnsPeers(c.wireguard!.interfaces)).toEqual([{ name: 'nas', addresses: ['10.77.0.5', 'fd77::5'] }]);
  });
  it('errors name the .conf file, its line and the section key', () => {
    const bad = conf.replace('AllowedIPs = 10.77.0.5/32', 'AllowedIPs = 10.77.0.500/32');
    const e = errorOf(yaml, { '/cfg/wg/tsp1.conf': bad });
    expect([e.file, e.line, e.key]).toEqual(['/cfg/wg/tsp1.conf', 12, '[Peer 1].AllowedIPs']);
  });
  it('an unknown key names its line', () => {
    const e = errorOf(yaml, { '/cfg/wg/tsp1.conf': conf.replace('MTU = 1380', 'MTUU = 1380') });
    expect([e.line, e.key]).toEqual([7, 'MTUU']);
  });
  it('wg-quick hooks are refused rather than silently not run', () => {
    const e = errorOf(yaml, { '/cfg/wg/tsp1.conf': conf.replace('MTU = 1380', 'PostUp = iptables -A FORWARD') });
    expect([e.line, e.key]).toEqual([7, '[Interface].PostUp']);
  });
  it('a bad private key in the file is not quoted', () => {
    const e = errorOf(yaml, { '/cfg/wg/tsp1.conf': conf.replace(PRIV, 'c2VjcmV0c2VjcmV0') });
    expect([e.line, e.key]).toEqual([3, '[Interface].PrivateKey']);
    expect(e.message).not.toContain('c2VjcmV0');
  });
  it('a missing file is reported at config_file', () => {
    const e = errorOf(yaml);
    expect([e.file, e.line, e.key]).toEqual(['tsplane.yaml', 8, 'wireguard.interfaces[0].config_file']);
    expect(e.message).toMatch(/ENOENT/);
  });
  it('settings beside config_file are refused (they belong in the file)', () => {
    const e = errorOf(`${yaml}      listen_port: 1\n`, { '/cfg/wg/tsp1.conf': conf });
    expect(e.key).toBe('wireguard.interfaces[0].listen_port');
  });
});

describe('peerDiff', () => {
  const base = parse(`wireguard:\n  interfaces:\n    - name: t\n      private_key: ${PRIV}\n      peers:\n        - { public_key: ${KEY_A}, allowed_ips: [10.0.0.1/32] }\n        - { public_key: ${KEY_B}, allowed_ips: [10.0.0.2/32] }\n`).wireguard!.interfaces[0]!;
  const next = parse(`wireguard:\n  interfaces:\n    - name: t\n      private_key: ${PRIV}\n      peers:\n        - { public_key: ${KEY_A}, allowed_ips: [10.0.0.1/32] }\n        - { public_key: ${KEY_C}, allowed_ips: [10.0.0.3/32] }\n`).wireguard!.interfaces[0]!;
  it('is undefined for an unchanged config', () => {
    expect(peerDiff(base, base)).toBeUndefined();
  });
  it('adds new peers, removes gone ones, leaves unchanged ones out', () => {
    const d = peerDiff(base, next)!;
    expect(d.replacePeers).toBe(false);
    expect(d.privateKey).toBeUndefined();
    const byKey = new Map(d.peers.map((p) => [Buffer.from(p.publicKey).toString('base64'), p]));
    expect([...byKey.keys()].sort()).toEqual([KEY_B, KEY_C].sort());
    expect(byKey.get(KEY_B)!.remove).toBe(true);
    expect(byKey.get(KEY_C)!.remove).toBe(false);
    expect(byKey.get(KEY_C)!.replaceAllowedIps).toBe(true);
  });
  it('a changed allowed IP re-sends that peer only', () => {
    const changed = { ...base, peers: [base.peers[0]!, { ...base.peers[1]!, allowedIpsText: ['10.0.0.9/32'] }] };
    const d = peerDiff(base, changed)!;
    expect(d.peers.map((p) => Buffer.from(p.publicKey).toString('base64'))).toEqual([KEY_B]);
  });
});

describe('decodeKey', () => {
  it('accepts exactly 32-byte base64 keys', () => {
    expect(decodeKey(KEY_A)?.length).toBe(32);
    expect(decodeKey(KEY_A.slice(1))).toBeUndefined();
    expect(decodeKey(`${KEY_A.slice(0, 42)}B=`)).toBeUndefined();
  });
});
