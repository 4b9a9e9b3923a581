import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MAX_UAPI_LINE_BYTES,
  UAPI_ERRNO,
  UapiRequestFramer,
  formatSetRequest,
  parseUapiRequest,
  renderErrno,
  renderGetResponse,
  type UapiFrame,
} from '../../src/wireguard/uapi.js';
import type { DeviceConfigChange, DeviceStatus } from '../../src/wireguard/device-api.js';
import { fromHex, toHex } from '../../src/runtime/bytes.js';

const enc = new TextEncoder();
const K1 = 'a0'.repeat(32);
const K2 = '7e'.repeat(31) + '0d';
const K3 = '11'.repeat(32);

function lines(text: string): string[] {
  // A framed request: the lines before the blank line.
  const frames = new UapiRequestFramer().push(enc.encode(text));
  expect(frames).toHaveLength(1);
  const f = frames[0]!;
  if (f.type !== 'request') throw new Error('not a request');
  return [...f.lines];
}

function set(text: string): DeviceConfigChange {
  const r = parseUapiRequest(lines(text));
  if (r.op !== 'set') throw new Error(`expected set, got ${JSON.stringify(r)}`);
  return r.change;
}

function errnoOf(text: string): number | undefined {
  const r = parseUapiRequest(lines(text));
  return r.op === 'error' ? r.errno : undefined;
}

describe('UAPI request framer', () => {
  const two = 'get=1\n\nset=1\nlisten_port=51820\n\n';

  it('yields each request at its blank line, several per stream', () => {
    const frames = new UapiRequestFramer().push(enc.encode(two));
    expect(frames).toEqual([
      { type: 'request', lines: ['get=1'] },
      { type: 'request', lines: ['set=1', 'listen_port=51820'] },
    ]);
  });

  it('gives the same requests when the stream is split at every byte boundary', () => {
    const bytes = enc.encode(two);
    const whole = new UapiRequestFramer().push(bytes);
    for (let i = 0; i <= bytes.length; i++) {
      const f = new UapiRequestFramer();
      const got = [...f.push(bytes.subarray(0, i)), ...f.push(bytes.subarray(i))];
      expect(got, `split at ${i}`).toEqual(whole);
    }
    const f = new UapiRequestFramer();
    const oneByOne: UapiFrame[] = [];
    for (const b of bytes) oneByOne.push(...f.push(Uint8Array.of(b)));
    expect(oneByOne).toEqual(whole);
  });

  it('keeps an incomplete request buffered until its blank line arrives', () => {
    const f = new UapiRequestFramer();
    expect(f.push(enc.encode('set=1\nlisten_port=1\n'))).toEqual([]);
    expect(f.push(enc.encode('\n'))).toEqual([{ type: 'request', lines: ['set=1', 'listen_port=1'] }]);
  });

  it('overflows once on a line longer than the cap and then ignores the stream', () => {
    const f = new UapiRequestFramer();
    const long = enc.encode('set=1\n' + 'x'.repeat(MAX_UAPI_LINE_BYTES + 1));
    expect(f.push(long)).toEqual([{ type: 'overflow' }]);
    expect(f.push(enc.encode('\nget=1\n\n'))).toEqual([]);
  });

  it('overflows on a long line even when it arrives one byte at a time', () => {
    const f = new UapiRequestFramer();
    const frames: UapiFrame[] = [];
    for (let i = 0; i < MAX_UAPI_LINE_BYTES + 10; i++) frames.push(...f.push(enc.encode('a')));
    expect(frames).toEqual([{ type: 'overflow' }]);
  });

  it('never throws on arbitrary bytes split arbitrarily', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(3000), { maxLength: 5 }), (bytes, cuts) => {
        const f = new UapiRequestFramer();
        let prev = 0;
        for (const c of [...cuts.map((x) => Math.min(x, bytes.length)).sort((a, b) => a - b), bytes.length]) {
          for (const frame of f.push(bytes.subarray(prev, c))) {
            if (frame.type === 'request') parseUapiRequest(frame.lines);
          }
          prev = Math.max(prev, c);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('UAPI set parsing', () => {
  it('parses what `wg setconf` sends (strace of wg 1.0.20210914)', () => {
    const c = set(
      `set=1\nprivate_key=${K1}\nlisten_port=51820\nfwmark=0\nreplace_peers=true\npublic_key=${K2}\n` +
        'endpoint=192.0.2.2:51820\nreplace_allowed_ips=true\nallowed_ip=10.9.0.2/32\n\n',
    );
    expect(toHex(c.privateKey!)).toBe(K1);
    expect(c.listenPort).toBe(51820);
    expect(c.fwmark).toBe(0);
    expect(c.replacePeers).toBe(true);
    expect(c.peers).toHaveLength(1);
    const p = c.peers[0]!;
    expect(toHex(p.publicKey)).toBe(K2);
    expect(p.endpoint).toEqual({ family: 4, address: '192.0.2.2', port: 51820 });
    expect(p.replaceAllowedIps).toBe(true);
    expect(p.allowedIps).toEqual([{ family: 4, address: Uint8Array.of(10, 9, 0, 2), bits: 32 }]);
    expect(p.remove).toBe(false);
    expect(p.updateOnly).toBe(false);
  });

  it('leaves absent device fields undefined (unchanged)', () => {
    const c = set(`set=1\npublic_key=${K2}\npersistent_keepalive_interval=0\n\n`);
    expect(c.privateKey).toBeUndefined();
    expect(c.listenPort).toBeUndefined();
    expect(c.fwmark).toBeUndefined();
    expect(c.replacePeers).toBe(false);
    expect(c.peers[0]!.persistentKeepaliveIntervalS).toBe(0);
    expect(c.peers[0]!.presharedKey).toBeUndefined();
  });

  it('parses bracketed IPv6 endpoints into canonical text', () => {
    const c = set(`set=1\npublic_key=${K2}\nendpoint=[2001:DB8:0:0::1]:9\n\n`);
    expect(c.peers[0]!.endpoint).toEqual({ family: 6, address: '2001:db8::1', port: 9 });
  });

  it('keeps the zone of a link-local endpoint (as wireguard-go does)', () => {
    const c = set(`set=1\npublic_key=${K2}\nendpoint=[fe80::1%eth0]:51820\n\n`);
    expect(c.peers[0]!.endpoint).toEqual({ family: 6, address: 'fe80::1%eth0', port: 51820 });
  });

  it('accepts peer flags, PSK, several peers and allowed_ip removal', () => {
    const c = set(
      `set=1\npublic_key=${K2}\nremove=true\npublic_key=${K3}\nupdate_only=true\npreshared_key=${K1}\n` +
        'allowed_ip=fd00::/64\nallowed_ip=-10.0.0.0/8\nprotocol_version=1\n\n',
    );
    expect(c.peers.map((p) => [toHex(p.publicKey), p.remove, p.updateOnly])).toEqual([
      [K2, true, false],
      [K3, false, true],
    ]);
    expect(toHex(c.peers[1]!.presharedKey!)).toBe(K1);
    expect(c.peers[1]!.allowedIps[0]!.bits).toBe(64);
    expect(c.peers[1]!.removedAllowedIps).toEqual([{ family: 4, address: Uint8Array.of(10, 0, 0, 0), bits: 8 }]);
  });

  it('drops prefixes listed before replace_allowed_ips in the same section', () => {
    const c = set(`set=1\npublic_key=${K2}\nallowed_ip=10.0.0.1/32\nreplace_allowed_ips=true\nallowed_ip=10.0.0.2/32\n\n`);
    expect(c.peers[0]!.allowedIps.map((a) => a.address[3])).toEqual([2]);
  });

  it('accepts uppercase hex keys as wireguard-go does', () => {
    expect(toHex(set(`set=1\nprivate_key=${K2.toUpperCase()}\n\n`).privateKey!)).toBe(K2);
  });

  const invalid: [string, string][] = [
    ['an unknown device key', 'set=1\nbogus_key=1\n\n'],
    ['a short key', `set=1\nprivate_key=${K1.slice(2)}\n\n`],
    ['a non-hex key', `set=1\nprivate_key=${'zz'.repeat(32)}\n\n`],
    ['a base64 key', 'set=1\nprivate_key=YOkhGj+VkLFQFMzCOPaN9kS3EpyNY6SUq7d9cvhqA2A=\n\n'],
    ['a port above 65535', 'set=1\nlisten_port=65536\n\n'],
    ['a negative port', 'set=1\nlisten_port=-1\n\n'],
    ['a hex fwmark', 'set=1\nfwmark=0x10\n\n'],
    ['an fwmark above 2^32-1', 'set=1\nfwmark=4294967296\n\n'],
    ['replace_peers=false', 'set=1\nreplace_peers=false\n\n'],
    ['a device key inside a peer section', `set=1\npublic_key=${K2}\nlisten_port=1\n\n`],
    ['an unknown peer key', `set=1\npublic_key=${K2}\nfoo=bar\n\n`],
    ['a hostname endpoint', `set=1\npublic_key=${K2}\nendpoint=example.com:51820\n\n`],
    ['an unbracketed IPv6 endpoint', `set=1\npublic_key=${K2}\nendpoint=2001:db8::1:51820\n\n`],
    ['a zone on an IPv4 endpoint', `set=1\npublic_key=${K2}\nendpoint=192.0.2.1%eth0:51820\n\n`],
    ['a malformed zone', `set=1\npublic_key=${K2}\nendpoint=[fe80::1%eth/0]:51820\n\n`],
    ['an endpoint without a port', `set=1\npublic_key=${K2}\nendpoint=192.0.2.1\n\n`],
    ['a keepalive above 65535', `set=1\npublic_key=${K2}\npersistent_keepalive_interval=70000\n\n`],
    ['a prefix without bits', `set=1\npublic_key=${K2}\nallowed_ip=10.0.0.1\n\n`],
    ['an IPv4 prefix /33', `set=1\npublic_key=${K2}\nallowed_ip=10.0.0.0/33\n\n`],
    ['an IPv4 octet with a leading zero', `set=1\npublic_key=${K2}\nallowed_ip=10.0.0.01/32\n\n`],
    ['protocol_version=2', `set=1\npublic_key=${K2}\nprotocol_version=2\n\n`],
    ['remove=false', `set=1\npublic_key=${K2}\nremove=false\n\n`],
    ['a get with trailing lines', 'get=1\nlisten_port=1\n\n'],
  ];
  for (const [name, text] of invalid) {
    it(`rejects ${name} with EINVAL`, () => expect(errnoOf(text)).toBe(UAPI_ERRNO.EINVAL));
  }

  it('rejects the whole request when a later line is bad (nothing half-applied)', () => {
    const r = parseUapiRequest(lines(`set=1\nprivate_key=${K1}\nlisten_port=1\npublic_key=${K2}\nendpoint=nope\n\n`));
    expect(r).toMatchObject({ op: 'error', errno: UAPI_ERRNO.EINVAL });
    expect('change' in r).toBe(false);
  });

  it('answers a line without "=" with EPROTO', () => {
    expect(errnoOf('set=1\nlisten_port\n\n')).toBe(UAPI_ERRNO.EPROTO);
  });

  it('flags an unknown operation as fatal EPROTO', () => {
    expect(parseUapiRequest(['frob=1'])).toMatchObject({ op: 'error', errno: UAPI_ERRNO.EPROTO, fatal: true });
    expect(parseUapiRequest([])).toMatchObject({ op: 'error', fatal: true });
  });

  it('never throws on arbitrary lines', () => {
    const keys = ['private_key', 'listen_port', 'fwmark', 'replace_peers', 'public_key', 'remove', 'update_only',
      'preshared_key', 'endpoint', 'persistent_keepalive_interval', 'replace_allowed_ips', 'allowed_ip', 'protocol_version'];
    const line = fc.oneof(fc.string({ maxLength: 80 }), fc.tuple(fc.constantFrom(...keys), fc.string({ maxLength: 70 })).map(([k, v]) => `${k}=${v}`));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), (ls) => {
        parseUapiRequest(['set=1', ...ls]);
        parseUapiRequest(ls);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('UAPI set round trip', () => {
  const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const v4 = fc.record({ family: fc.constant(4 as const), address: fc.uint8Array({ minLength: 4, maxLength: 4 }), bits: fc.integer({ min: 0, max: 32 }) });
  const v6 = fc.record({ family: fc.constant(6 as const), address: fc.uint8Array({ minLength: 16, maxLength: 16 }), bits: fc.integer({ min: 0, max: 128 }) });
  const peer = fc.record({
    publicKey: key,
    remove: fc.boolean(),
    updateOnly: fc.boolean(),
    presharedKey: fc.option(key, { nil: undefined }),
    persistentKeepaliveIntervalS: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
    replaceAllowedIps: fc.boolean(),
    allowedIps: fc.array(fc.oneof(v4, v6), { maxLength: 4 }),
    removedAllowedIps: fc.array(fc.oneof(v4, v6), { maxLength: 2 }),
  });

  it('parses back exactly what formatSetRequest wrote', () => {
    fc.assert(
      fc.property(
        fc.record({
          privateKey: fc.option(key, { nil: undefined }),
          listenPort: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
          fwmark: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
          replacePeers: fc.boolean(),
          peers: fc.array(peer, { maxLength: 3 }),
        }),
        (raw) => {
          const change = JSON.parse(JSON.stringify(raw, (_k, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v)), (k, v: unknown) =>
            typeof v === 'string' && /^([0-9a-f]{8}|[0-9a-f]{32}|[0-9a-f]{64})$/.test(v) && ['privateKey', 'publicKey', 'presharedKey', 'address'].includes(k) ? fromHex(v) : v,
          ) as DeviceConfigChange;
          const back = set(formatSetRequest(change));
          expect(formatSetRequest(back)).toBe(formatSetRequest(change));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('UAPI get rendering', () => {
  const status: DeviceStatus = {
    privateKey: fromHex(K1),
    publicKey: fromHex(K3),
    peers: [
      {
        publicKey: fromHex(K2),
        presharedKey: new Uint8Array(32),
        endpoint: { family: 6, address: '2001:db8::2', port: 51820 },
        lastHandshakeWallMs: 1795574198914.696,
        rxBytes: 633637876n,
        txBytes: 16081070584n,
        persistentKeepaliveIntervalS: 25,
        allowedIps: [
          { family: 4, address: Uint8Array.of(10, 9, 0, 2), bits: 32 },
          { family: 6, address: fromHex('fd000000000000000000000000000002'), bits: 128 },
        ],
      },
    ],
  };

  it('renders the device and peer lines wg expects, ending in errno=0 and a blank line', () => {
    expect(renderGetResponse(status, { listenPort: 51820, fwmark: 51820 })).toBe(
      [
        `private_key=${K1}`,
        'listen_port=51820',
        'fwmark=51820',
        `public_key=${K2}`,
        `preshared_key=${'0'.repeat(64)}`,
        'protocol_version=1',
        'endpoint=[2001:db8::2]:51820',
        'last_handshake_time_sec=1795574198',
        'last_handshake_time_nsec=914696000',
        'tx_bytes=16081070584',
        'rx_bytes=633637876',
        'persistent_keepalive_interval=25',
        'allowed_ip=10.9.0.2/32',
        'allowed_ip=fd00::2/128',
        'errno=0',
        '',
        '',
      ].join('\n'),
    );
  });

  it('omits private_key, listen_port and fwmark when unset or zero, and the endpoint when unknown', () => {
    const bare: DeviceStatus = {
      privateKey: undefined,
      publicKey: undefined,
      peers: [{ ...status.peers[0]!, endpoint: undefined, lastHandshakeWallMs: 0 }],
    };
    const text = renderGetResponse(bare, { listenPort: 0, fwmark: 0 });
    expect(text).not.toMatch(/private_key=|listen_port=|fwmark=|endpoint=/);
    expect(text).toContain('last_handshake_time_sec=0\nlast_handshake_time_nsec=0\n');
    expect(renderGetResponse({ ...bare, privateKey: new Uint8Array(32) }, { listenPort: 0, fwmark: 0 })).not.toContain('private_key=');
    expect(renderGetResponse({ privateKey: undefined, publicKey: undefined, peers: [] }, { listenPort: 0, fwmark: 0 })).toBe('errno=0\n\n');
  });

  it('renders errno replies', () => {
    expect(renderErrno(UAPI_ERRNO.EINVAL)).toBe('errno=-22\n\n');
  });
});
