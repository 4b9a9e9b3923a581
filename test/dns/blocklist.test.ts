import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileFilter, compileFilterSliced, DomainMatcher, MATCH_SCOPE, MAX_RULE_LINE_CHARS, normalizeDomain, parseBlocklist, type MatchScope } from '../../src/dns/blocklist.js';

function rulesOf(text: string): Array<[string, MatchScope, boolean]> {
  const out: Array<[string, MatchScope, boolean]> = [];
  parseBlocklist(text, (n, s, e) => {
    out.push([n, s, e]);
    return true;
  });
  return out;
}

describe('parseBlocklist: line forms', () => {
  const { EXACT, SUBDOMAINS, NAME_AND_SUBDOMAINS } = MATCH_SCOPE;
  const cases: Array<[string, string, Array<[string, MatchScope, boolean]>]> = [
    ['hosts 0.0.0.0', '0.0.0.0 ads.example', [['ads.example', EXACT, false]]],
    ['hosts 127.0.0.1 with several names', '127.0.0.1\tA.example  b.example.', [['a.example', EXACT, false], ['b.example', EXACT, false]]],
    ['hosts ::', ':: ads6.example', [['ads6.example', EXACT, false]]],
    ['hosts inline comment', '0.0.0.0 x.example # tracker', [['x.example', EXACT, false]]],
    ['hosts boilerplate skipped', '127.0.0.1 localhost\n::1 ip6-localhost ip6-loopback', []],
    ['plain domain', 'Tracker.Example', [['tracker.example', EXACT, false]]],
    ['wildcard', '*.cdn.example', [['cdn.example', SUBDOMAINS, false]]],
    ['adblock', '||ads.example^', [['ads.example', NAME_AND_SUBDOMAINS, false]]],
    ['adblock $important', '||ads.example^$important', [['ads.example', NAME_AND_SUBDOMAINS, false]]],
    ['adblock exception', '@@||good.example^', [['good.example', NAME_AND_SUBDOMAINS, true]]],
    ['adblock start anchor', '|only.example^', [['only.example', EXACT, false]]],
    ['adblock wildcard', '||*.sub.example^', [['sub.example', SUBDOMAINS, false]]],
    ['dnsmasq address', 'address=/a.example/b.example/0.0.0.0', [['a.example', NAME_AND_SUBDOMAINS, false], ['b.example', NAME_AND_SUBDOMAINS, false]]],
    ['comments and header', '# c\n! c\n[Adblock Plus 2.0]\n\n   \n', []],
  ];
  for (const [name, text, want] of cases) it(name, () => expect(rulesOf(text)).toEqual(want));

  it('counts unsupported and invalid lines instead of failing', () => {
    const text = [
      '||ads.example^$client=10.0.0.1', // unsupported modifier
      '/ads[0-9]+\\.example/', // regex
      'example.com##.banner', // cosmetic
      '||ads.example', // adblock substring rule
      '|https://x.example/path', // URL rule
      'server=/x.example/10.0.0.1',
      'not a valid line at all',
      'bad..name',
      '0.0.0.0 ok.example',
    ].join('\n');
    const stats = parseBlocklist(text, () => true);
    expect(stats).toMatchObject({ lines: 9, rules: 1, unsupported: 6, invalid: 2, comments: 0 });
  });

  it('skips lines longer than the cap', () => {
    const stats = parseBlocklist(`${'a'.repeat(MAX_RULE_LINE_CHARS + 1)}\nok.example\n`, () => true);
    expect(stats).toMatchObject({ lines: 2, tooLong: 1, rules: 1 });
  });

  it('handles CRLF line endings', () => {
    expect(rulesOf('0.0.0.0 a.example\r\n||b.example^\r\n').map((r) => r[0])).toEqual(['a.example', 'b.example']);
  });

  it('normalizes names: lower case, one trailing dot, label and length limits', () => {
    expect(normalizeDomain('A.Example.')).toBe('a.example');
    expect(normalizeDomain(`${'a'.repeat(64)}.example`)).toBeUndefined();
    expect(normalizeDomain(`${'a.'.repeat(127)}x`)).toBeUndefined();
    expect(normalizeDomain('ünïcode.example')).toBeUndefined();
    expect(normalizeDomain('_dmarc.example')).toBe('_dmarc.example');
  });

  it('never throws on arbitrary text and accounts for every line', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400, unit: fc.constantFrom('a', '.', '|', '^', '$', '@', '#', '!', '*', '/', ' ', '\n', '0', ':', '=', 'é', '\r') }), (text) => {
        const s = parseBlocklist(text, () => true);
        expect(s.comments + s.rules + s.exceptions + s.unsupported + s.invalid + s.tooLong + s.overLimit).toBe(s.lines);
      }),
      { numRuns: 500 },
    );
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => void parseBlocklist(text, () => true)), { numRuns: 300 });
  });
});

describe('DomainMatcher', () => {
  const m = new DomainMatcher();
  m.add('exact.example', MATCH_SCOPE.EXACT, 'hosts');
  m.add('wild.example', MATCH_SCOPE.SUBDOMAINS, 'wild');
  m.add('adblock.example', MATCH_SCOPE.NAME_AND_SUBDOMAINS, 'abp');

  const cases: Array<[string, string | undefined]> = [
    ['exact.example', 'hosts'],
    ['sub.exact.example', undefined],
    ['wild.example', undefined],
    ['a.wild.example', 'wild'],
    ['a.b.wild.example', 'wild'],
    ['adblock.example', 'abp'],
    ['x.adblock.example', 'abp'],
    ['xadblock.example', undefined], // label boundary
    ['example', undefined],
    ['', undefined],
  ];
  for (const [q, want] of cases) it(`matches ${JSON.stringify(q)} → ${String(want)}`, () => expect(m.match(q)).toBe(want));

  it('agrees with a slow reference on random names', () => {
    const ref = (rules: Array<[string, MatchScope]>, q: string): boolean =>
      rules.some(([n, s]) => ((s & MATCH_SCOPE.EXACT) !== 0 && q === n) || ((s & MATCH_SCOPE.SUBDOMAINS) !== 0 && q.endsWith(`.${n}`)));
    const label = fc.constantFrom('a', 'b', 'c', 'ab');
    const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
    const scope = fc.constantFrom<MatchScope>(MATCH_SCOPE.EXACT, MATCH_SCOPE.SUBDOMAINS, MATCH_SCOPE.NAME_AND_SUBDOMAINS);
    fc.assert(
      fc.property(fc.array(fc.tuple(name, scope), { maxLength: 8 }), fc.array(name, { maxLength: 10 }), (rules, queries) => {
        const dm = new DomainMatcher();
        for (const [n, s] of rules) dm.add(n, s, 'l');
        for (const q of queries) expect(dm.match(q) !== undefined).toBe(ref(rules, q));
      }),
    );
  });

  it('stops accepting rules at maxRules and reports it', () => {
    const small = new DomainMatcher({ maxRules: 2 });
    const stats = parseBlocklist('a.example\nb.example\nc.example\n', (n, s) => small.add(n, s, 'x'));
    expect(small.size).toBe(2);
    expect(stats).toMatchObject({ rules: 2, overLimit: 1 });
  });
});

describe('compileFilter', () => {
  it('routes @@ exceptions and configured entries to the allowlist and reports the first list', () => {
    const f = compileFilter(
      [
        { name: 'list-a', text: '||ads.example^\n@@||ok.ads.example^\n' },
        { name: 'list-b', text: '0.0.0.0 ads.example\n0.0.0.0 more.example\n' },
      ],
      ['*.more.example', 'keep.example'],
    );
    expect(f.block.match('x.ads.example')).toBe('list-a');
    expect(f.block.match('more.example')).toBe('list-b');
    expect(f.allow.match('ok.ads.example')).toBe('list-a');
    expect(f.allow.match('a.more.example')).toBe('config:allowlist');
    expect(f.allow.match('keep.example')).toBe('config:allowlist');
    expect(f.stats.get('list-a')).toMatchObject({ rules: 1, exceptions: 1 });
  });
});

describe('compileFilterSliced', () => {
  it('gives the same matchers and stats as compileFilter, yielding between slices', async () => {
    const lists = [
      { name: 'a', text: Array.from({ length: 250 }, (_, i) => `0.0.0.0 h${i}.example`).join('\n') },
      { name: 'b', text: '' },
      { name: 'c', text: Array.from({ length: 120 }, (_, i) => (i % 3 === 0 ? `@@||ok${i}.example^` : `||a${i}.example^`)).join('\n') },
    ];
    const allow = ['x.example', '*.y.example'];
    const whole = compileFilter(lists, allow);
    let yields = 0;
    const sliced = await compileFilterSliced(lists, allow, { linesPerSlice: 37, yieldNow: async () => void yields++ });
    expect(yields).toBe(Math.ceil((250 + 120 + 2) / 37) - 1);
    expect([...sliced.stats]).toEqual([...whole.stats]);
    expect(sliced.block.size).toBe(whole.block.size);
    expect(sliced.allow.size).toBe(whole.allow.size);
    for (const q of ['h0.example', 'h249.example', 'x.a1.example', 'ok3.example', 'x.example', 'z.y.example', 'nope.example']) {
      expect([sliced.block.match(q), sliced.allow.match(q)]).toEqual([whole.block.match(q), whole.allow.match(q)]);
    }
  });
});

describe('DomainMatcher hash chains', () => {
  it('finds every one of 200k names (some share a 30-bit hash) and nothing of another length', () => {
    for (const hashSeed of [0, 12345]) {
      const m = new DomainMatcher({ hashSeed });
      const names = Array.from({ length: 200_000 }, (_, i) => `n${i.toString(36)}.example`);
      for (const n of names) m.add(n, MATCH_SCOPE.EXACT, 'l');
      expect(m.size).toBe(names.length);
      expect(names.every((n) => m.match(n) === 'l')).toBe(true);
      expect(names.slice(0, 1000).some((n) => m.match(`x${n}`) !== undefined || m.match(`a.${n}`) !== undefined)).toBe(false);
    }
  });

  it('reports the most specific matching rule', () => {
    const m = new DomainMatcher();
    m.add('example', MATCH_SCOPE.SUBDOMAINS, 'tld');
    m.add('ads.example', MATCH_SCOPE.NAME_AND_SUBDOMAINS, 'ads');
    expect(m.match('x.ads.example')).toBe('ads');
    expect(m.match('ads.example')).toBe('ads');
    expect(m.match('other.example')).toBe('tld');
  });
});
