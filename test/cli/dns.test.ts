import { describe, expect, it } from 'vitest';
import { parseDnsArgs } from '../../src/cli/dns.js';
import { ConfigError } from '../../src/runtime/errors.js';
import { forwarderRouting, cacheOptionsFrom } from '../../src/dns/forwarder-config.js';

describe('tsplane dns flags', () => {
  it('build the same config a file would: default group, internal-only routes, reverse CIDRs', () => {
    const { config } = parseDnsArgs(['--listen', '127.0.0.1:5353', '--upstream', '127.0.0.1:5301,tcp://127.0.0.1:5302',
      '--route', 'home.lan=127.0.0.1:5300', '--route', '10.0.0.0/8=127.0.0.1:5300', '--strategy', 'round-robin', '--timeout', '700ms',
      '--cache-size', '500', '--serve-stale', '1h']);
    expect(config.listeners.map((l) => [l.address, l.port])).toEqual([['127.0.0.1', 5353]]);
    expect(config.defaultGroup).toBe('default');
    expect([...config.groups.keys()]).toEqual(['default', 'home.lan', '10.0.0.0/8']);
    expect(config.groups.get('default')!.servers.map((s) => [s.protocol, s.port])).toEqual([['udp', 5301], ['tcp', 5302]]);
    expect(config.groups.get('default')!.strategy).toBe('round-robin');
    expect(config.groups.get('default')!.timeoutMs).toBe(700);
    expect(config.routes.map((r) => [r.suffix, r.group, r.internalOnly])).toEqual([['home.lan', 'home.lan', true], ['10.in-addr.arpa', '10.0.0.0/8', true]]);
    expect(cacheOptionsFrom(config.cache)).toMatchObject({ maxEntries: 500, staleMaxS: 3600 });
  });

  it('name the flag in errors', () => {
    const bad: [string[], string][] = [
      [['--route', 'home.lan'], '--route'],
      [['--upstream', 'dns.example'], '--upstream'],
      [['--route', 'x.lan=nope'], '--route'],
      [['--upstream', '127.0.0.1', '--strategy', 'fastest'], '--strategy'],
      [['--upstream', '127.0.0.1', '--blocked-answer', 'zero'], '--blocked-answer'],
      [['--frobnicate'], '--frobnicate'],
      [[], '--upstream'],
      [['--config', 'x.yaml', '--upstream', '127.0.0.1'], '--config'],
    ];
    for (const [args, key] of bad) {
      try {
        parseDnsArgs(args);
        expect.unreachable(`accepted ${args.join(' ')}`);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).key).toContain(key);
      }
    }
  });

  it('turn --cache-size 0 and --serve-stale 0s into a disabled cache and no serve-stale', () => {
    const { config } = parseDnsArgs(['--upstream', '127.0.0.1', '--cache-size', '0', '--serve-stale', '0s']);
    expect(cacheOptionsFrom(config.cache)).toMatchObject({ maxEntries: 0, staleMaxS: 0 });
  });
});

describe('forwarderRouting', () => {
  const { config } = parseDnsArgs(['--upstream', '127.0.0.1:5301', '--route', 'home.lan=127.0.0.1:5300', '--route', '192.168.1.0/24=127.0.0.1:5300']);
  it('falls back to the default group and routes private reverse zones no route covers to local NXDOMAIN', () => {
    const r = forwarderRouting(config);
    expect(r.fallbackGroup).toBe('default');
    expect(r.routes.lookup('5.1.168.192.in-addr.arpa').group).toBe('192.168.1.0/24');
    expect(r.routes.lookup('5.2.168.192.in-addr.arpa').group).toBe('!nxdomain');
    expect(r.routes.lookup('1.0.0.10.in-addr.arpa').group).toBe('!nxdomain');
    expect(r.routes.lookup('8.8.8.8.in-addr.arpa').group).toBe('default');
    expect(forwarderRouting(config, false).routes.lookup('1.0.0.10.in-addr.arpa').group).toBe('default');
  });
  it('gives every configured server a canonical id and keeps its label', () => {
    const g = forwarderRouting(config).groups.find((x) => x.name === 'default')!;
    expect(g.upstreams.map((u) => [u.id, u.label])).toEqual([['127.0.0.1:5301', '127.0.0.1:5301']]);
  });
});
