import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../../src/runtime/log.js';
import { openQueryLog } from '../../../src/dns/io/query-log.js';
import type { QueryLogEntry } from '../../../src/dns/metrics.js';

const ENTRY: QueryLogEntry = { timeMs: 1, client: '127.0.0.1:4000', transport: 'udp', qname: 'ads.example', qtype: 1, route: 'blocked', rcode: 'NOERROR', cacheHit: false, list: 'oisd', durationMs: 0.1 };

describe('openQueryLog', () => {
  it('appends one JSON line per entry to a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsp-dnsf-qlog-'));
    try {
      const path = join(dir, 'q.jsonl');
      const log = openQueryLog({ kind: 'file', path }, createLogger({ level: 'silent', pretty: false }));
      log.sink!(ENTRY);
      log.sink!({ ...ENTRY, qname: 'www.example.org', route: 'public', list: undefined, upstream: '127.0.0.1:5301' });
      await log.close();
      const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as QueryLogEntry);
      expect(lines.map((l) => [l.qname, l.route])).toEqual([['ads.example', 'blocked'], ['www.example.org', 'public']]);
      expect(log.dropped()).toBe(0n);
      log.sink!(ENTRY); // after close: dropped, not thrown
      expect(log.dropped()).toBe(1n);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives no sink when off', () => {
    expect(openQueryLog({ kind: 'off' }, createLogger({ level: 'silent', pretty: false })).sink).toBeUndefined();
  });
});
