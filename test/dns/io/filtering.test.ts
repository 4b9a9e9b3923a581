import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { ManualClock } from '../../../src/runtime/clock.js';
import { createLogger } from '../../../src/runtime/log.js';
import { loadDnsConfig } from '../../../src/dns/config.js';
import { startFiltering } from '../../../src/dns/io/filtering.js';
import { RCODE, RR_TYPE } from '../../../src/dns/rdata.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

describe('startFiltering with examples/dns.yaml', () => {
  it('answers local names, blocks listed names, honours the allowlist and forwards the rest', async () => {
    const config = loadDnsConfig(join(ROOT, 'examples/dns.yaml'));
    const f = await startFiltering(config, { clock: new ManualClock(), logger: createLogger({ level: 'silent', pretty: false }) });
    try {
      expect(f.policy.decide('nas.vpn.lan', RR_TYPE.A)).toMatchObject({ type: 'local', rcode: RCODE.NOERROR });
      expect(f.policy.decide('nope.vpn.lan', RR_TYPE.A)).toEqual({ type: 'local', records: [], rcode: RCODE.NXDOMAIN });
      expect(f.policy.decide('5.0.0.10.in-addr.arpa', RR_TYPE.PTR)).toMatchObject({ type: 'local' });
      expect(f.policy.decide('nas.home.lan', RR_TYPE.A)).toMatchObject({ type: 'local' });
      expect(f.policy.decide('printer.home.lan', RR_TYPE.A)).toEqual({ type: 'forward' });
      expect(f.policy.decide('x.ads.example', RR_TYPE.A)).toEqual({ type: 'block', list: 'dns-blocklist.txt' });
      expect(f.policy.decide('a.telemetry.example', RR_TYPE.A)).toEqual({ type: 'block', list: 'dns-blocklist.txt' });
      expect(f.policy.decide('ok.ads.example', RR_TYPE.A)).toEqual({ type: 'forward' });
      expect(f.policy.decide('www.example.org', RR_TYPE.A)).toEqual({ type: 'forward' });
      expect(f.policy.decideCnameTargets!(['tracker.example'])).toEqual({ type: 'block', list: 'dns-blocklist.txt' });
    } finally {
      f.close();
    }
  });
});
