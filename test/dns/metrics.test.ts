import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../src/runtime/metrics.js';
import { createDnsMetrics, rcodeLabel } from '../../src/dns/metrics.js';
import { RCODE } from '../../src/dns/rdata.js';

describe('createDnsMetrics', () => {
  it('exports queries, upstream latency and failures, blocked counts and blocklist state', async () => {
    const registry = createRegistry();
    const m = createDnsMetrics(registry);
    m.query('internal', RCODE.NOERROR, true);
    m.query('internal', RCODE.NOERROR, true);
    m.query('public', RCODE.NXDOMAIN, false);
    m.upstream('public', '127.0.0.1:5301', 12);
    m.upstreamFailure('public', '127.0.0.1:5301', 'timeout');
    m.blocked('oisd');
    m.blocklistLoaded('oisd', 1234, true, 1_700_000_000_500);
    m.blocklistLoaded('oisd', 0, false, 1_700_000_100_000);
    const text = await registry.metrics();
    expect(text).toContain('tsplane_dns_queries_total{route="internal",rcode="NOERROR",cache="hit"} 2');
    expect(text).toContain('tsplane_dns_queries_total{route="public",rcode="NXDOMAIN",cache="miss"} 1');
    expect(text).toContain('tsplane_dns_upstream_duration_seconds_bucket{le="0.025",group="public",server="127.0.0.1:5301"} 1');
    expect(text).toContain('tsplane_dns_upstream_duration_seconds_bucket{le="0.01",group="public",server="127.0.0.1:5301"} 0');
    expect(text).toContain('tsplane_dns_upstream_failures_total{group="public",server="127.0.0.1:5301",reason="timeout"} 1');
    expect(text).toContain('tsplane_dns_blocked_total{list="oisd"} 1');
    expect(text).toContain('tsplane_dns_blocklist_rules{list="oisd"} 1234');
    expect(text).toContain('tsplane_dns_blocklist_refresh_failures_total{list="oisd"} 1');
    expect(text).toContain('tsplane_dns_blocklist_last_success_timestamp_seconds{list="oisd"} 1700000000');
  });

  it('keeps query counts exact across scrapes (counted in arrays, moved into the counter on collect)', async () => {
    const registry = createRegistry();
    const m = createDnsMetrics(registry);
    m.query('public', RCODE.NOERROR, true);
    expect(await registry.metrics()).toContain('tsplane_dns_queries_total{route="public",rcode="NOERROR",cache="hit"} 1');
    m.query('public', RCODE.NOERROR, true);
    m.query('public', RCODE.SERVFAIL, false);
    m.query('public', 23, false);
    const text = await registry.metrics();
    expect(text).toContain('tsplane_dns_queries_total{route="public",rcode="NOERROR",cache="hit"} 2');
    expect(text).toContain('tsplane_dns_queries_total{route="public",rcode="SERVFAIL",cache="miss"} 1');
    expect(text).toContain('tsplane_dns_queries_total{route="public",rcode="23",cache="miss"} 1');
    expect(await registry.metrics()).toContain('tsplane_dns_queries_total{route="public",rcode="NOERROR",cache="hit"} 2');
  });

  it('names RCODEs', () => {
    expect(rcodeLabel(3)).toBe('NXDOMAIN');
    expect(rcodeLabel(23)).toBe('23');
  });
});
