import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseWgQuickConf, splitList } from '../../src/wireguard/wg-quick-conf.js';

describe('parseWgQuickConf', () => {
  it('reads sections and keys case-insensitively, strips comments, keeps line numbers', () => {
    const r = parseWgQuickConf('[INTERFACE]\n  privatekey=abc # trailing\n\n[Peer]\n# Name = web-1\npublickey = x\nallowedips = 10.0.0.1/32,10.0.0.2/32\nAllowedIPs=fd00::1/128\n');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.conf.iface.values.get('PrivateKey')).toEqual([{ value: 'abc', line: 2 }]);
    expect(r.conf.peers[0]!.name).toEqual({ value: 'web-1', line: 5 });
    expect(splitList(r.conf.peers[0]!.values.get('AllowedIPs')).map((v) => [v.value, v.line])).toEqual([
      ['10.0.0.1/32', 7], ['10.0.0.2/32', 7], ['fd00::1/128', 8],
    ]);
  });
  it.each([
    ['a key before any section', 'PrivateKey = x\n', 1, 'PrivateKey'],
    ['an unknown section', '[Interface]\n[Peers]\n', 2, '[Peers]'],
    ['a line without =', '[Interface]\nPrivateKey\n', 2, 'PrivateKey'],
    ['a repeated single-valued key', '[Interface]\nMTU = 1\nmtu = 2\n', 3, 'MTU'],
    ['a second [Interface]', '[Interface]\n[Interface]\n', 2, '[Interface]'],
    ['a peer key in [Interface]', '[Interface]\nEndpoint = 1.2.3.4:5\n', 2, 'Endpoint'],
  ])('rejects %s at its line', (_name, text, line, key) => {
    const r = parseWgQuickConf(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect([r.line, r.key]).toEqual([line, key]);
  });
  it('needs an [Interface] section', () => {
    expect(parseWgQuickConf('[Peer]\nPublicKey = x\n').ok).toBe(false);
  });
  it('never throws on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => {
      parseWgQuickConf(s);
      parseWgQuickConf(`[Interface]\n${s}`);
    }), { numRuns: 500 });
  });
});
