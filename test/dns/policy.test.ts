import { describe, expect, it } from 'vitest';
import { compileFilter } from '../../src/dns/blocklist.js';
import { LocalRecordStore } from '../../src/dns/local-records.js';
import { blockedAnswer, createPolicy } from '../../src/dns/policy.js';
import { RCODE, RR_TYPE } from '../../src/dns/rdata.js';
import { toHex } from '../../src/runtime/bytes.js';

function fixture(cnameCloaking: boolean) {
  const local = new LocalRecordStore({ zones: ['home.lan'] });
  local.setGroup('config', [{ name: 'ads.home.lan', type: 'A', address: '10.0.0.7' }]);
  const f = compileFilter(
    [{ name: 'ads-list', text: '||ads.example^\n||home.lan^\n||tracker.example^\n@@||ok.ads.example^\n' }],
    ['fine.tracker.example'],
  );
  return createPolicy({ local, blocklist: f.block, allowlist: f.allow, cnameCloaking });
}

describe('createPolicy.decide: local, then allowlist, then blocklists, else forward', () => {
  const p = fixture(true);
  it('answers local records even when a blocklist lists the name', () => {
    const d = p.decide('ads.home.lan', RR_TYPE.A);
    expect(d.type).toBe('local');
    if (d.type === 'local') expect(d.records.map((r) => toHex(r.rdata))).toEqual(['0a000007']);
  });
  it('answers NXDOMAIN locally for absent names in a local zone', () => {
    expect(p.decide('missing.home.lan', RR_TYPE.A)).toEqual({ type: 'local', records: [], rcode: RCODE.NXDOMAIN });
  });
  it('forwards allowlisted names (config allowlist and @@ exceptions)', () => {
    expect(p.decide('fine.tracker.example', RR_TYPE.A)).toEqual({ type: 'forward' });
    expect(p.decide('x.ok.ads.example', RR_TYPE.A)).toEqual({ type: 'forward' });
  });
  it('blocks listed names and names below ||rules, naming the list', () => {
    expect(p.decide('ads.example', RR_TYPE.A)).toEqual({ type: 'block', list: 'ads-list' });
    expect(p.decide('a.b.tracker.example', RR_TYPE.AAAA)).toEqual({ type: 'block', list: 'ads-list' });
  });
  it('forwards everything else', () => {
    expect(p.decide('www.example.org', RR_TYPE.A)).toEqual({ type: 'forward' });
    expect(createPolicy({ cnameCloaking: false }).decide('ads.example', RR_TYPE.A)).toEqual({ type: 'forward' });
  });
});

describe('createPolicy.decideCnameTargets (CNAME cloaking)', () => {
  it('blocks when any non-allowlisted target is listed', () => {
    const p = fixture(true);
    expect(p.decideCnameTargets!(['cdn.example.org', 'x.tracker.example'])).toEqual({ type: 'block', list: 'ads-list' });
    expect(p.decideCnameTargets!(['fine.tracker.example'])).toEqual({ type: 'forward' });
    expect(p.decideCnameTargets!([])).toEqual({ type: 'forward' });
  });
  it('forwards when the check is off', () => {
    expect(fixture(false).decideCnameTargets!(['x.tracker.example'])).toEqual({ type: 'forward' });
  });
});

describe('blockedAnswer', () => {
  it('null_ip gives 0.0.0.0 / :: and NODATA for other types', () => {
    expect(blockedAnswer('ads.example', RR_TYPE.A, 'null_ip', 10)).toEqual({ rcode: 0, records: [{ name: 'ads.example', type: 1, ttl: 10, rdata: new Uint8Array(4) }] });
    expect(blockedAnswer('ads.example', RR_TYPE.AAAA, 'null_ip', 10).records[0]!.rdata).toEqual(new Uint8Array(16));
    expect(blockedAnswer('ads.example', RR_TYPE.TXT, 'null_ip', 10)).toEqual({ rcode: 0, records: [] });
  });
  it('nxdomain and refused give that rcode', () => {
    expect(blockedAnswer('x', RR_TYPE.A, 'nxdomain', 10)).toEqual({ rcode: RCODE.NXDOMAIN, records: [] });
    expect(blockedAnswer('x', RR_TYPE.A, 'refused', 10)).toEqual({ rcode: RCODE.REFUSED, records: [] });
  });
});
