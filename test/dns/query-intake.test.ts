/** admitQuery: what is dropped, answered at once, or passed on; never throws on arbitrary bytes. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { admitQuery } from '../../src/dns/query-intake.js';
import { query, rd16 } from './wire.js';

describe('admitQuery', () => {
  it('passes a plain query on with the client view', () => {
    const a = admitQuery(query('www.example', 1, { id: 7 }), 'udp', false);
    expect(a.type).toBe('query');
    if (a.type === 'query') expect([a.msg.qname, a.view.id, a.view.maxBytes]).toEqual(['www.example', 7, 512]);
  });
  it('refuses for the access rules, zone transfers; NOTIMP for other opcodes; drops responses and junk', () => {
    const rc = (a: ReturnType<typeof admitQuery>) => (a.type === 'reply' ? rd16(a.bytes, 2) & 0xf : -1);
    const refused = admitQuery(query('www.example', 1), 'udp', true);
    expect([rc(refused), refused.type === 'reply' && refused.route]).toEqual([5, 'refused']);
    expect(rc(admitQuery(query('example', 252), 'tcp', false))).toBe(5); // AXFR
    expect(rc(admitQuery(query('example', 1, { flags: 0x2100 }), 'udp', false))).toBe(4); // opcode 4 (NOTIFY)
    expect(admitQuery(query('example', 1, { flags: 0x8100 }), 'udp', false).type).toBe('drop'); // a response
    expect(admitQuery(Uint8Array.of(1, 2, 3), 'udp', false).type).toBe('drop');
  });
  it('never throws on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (b, refused) => {
      expect(['drop', 'reply', 'query']).toContain(admitQuery(b, 'udp', refused).type);
    }), { numRuns: 3000 });
  });
});
