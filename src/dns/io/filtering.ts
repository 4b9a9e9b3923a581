/**
 * Wiring for the forwarder: builds the local record store, starts the blocklist sources and
 * returns the `QueryPolicy` over them, all from a validated `DnsConfig`. dns-core calls
 * `startFiltering` once at startup and `close()` on shutdown.
 */
import type { Clock } from '../../runtime/clock.js';
import type { Logger } from '../../runtime/log.js';
import type { Scheduler } from '../../runtime/loop.js';
import type { DnsConfig } from '../config.js';
import { LocalRecordStore } from '../local-records.js';
import type { DnsMetrics } from '../metrics.js';
import { createPolicy, type QueryPolicy } from '../policy.js';
import { BlocklistSource } from './blocklist-source.js';

export interface Filtering {
  readonly policy: QueryPolicy;
  /** Add groups here later (e.g. `setGroup('wireguard-peers', peerRecords(…))`). */
  readonly local: LocalRecordStore;
  readonly blocklists: BlocklistSource;
  close(): void;
}

/** The local store for `config.local` (records were validated by the config schema). */
export function createLocalStore(config: DnsConfig['local']): LocalRecordStore {
  const store = new LocalRecordStore({ zones: config.zones, autoPtr: config.autoPtr, defaultTtlS: config.defaultTtlS });
  const rejected = store.setGroup('config', config.records);
  // The schema validated every record; the store can still refuse data beside a CNAME.
  if (rejected.length > 0) {
    const r = rejected[0]!;
    throw new Error(`local record ${r.name} (dns.local.records[${r.index}]): ${r.reason}`);
  }
  return store;
}

/** Builds the policy and loads blocklists (failures are logged; the filter starts with what loaded). */
export async function startFiltering(config: DnsConfig, deps: { clock: Clock; logger: Logger; scheduler?: Scheduler; metrics?: DnsMetrics }): Promise<Filtering> {
  const local = createLocalStore(config.local);
  const blocklists = new BlocklistSource({ config: config.blocking, ...deps });
  await blocklists.start();
  const policy = createPolicy({ local, blocklist: blocklists.blocklist, allowlist: blocklists.allowlist, cnameCloaking: config.blocking.cnameCheck });
  return { policy, local, blocklists, close: () => blocklists.close() };
}
