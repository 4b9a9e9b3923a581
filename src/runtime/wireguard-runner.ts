/**
 * WireGuard interfaces inside `tsplane run`: one `Device` core per interface on a TUN, a UDP
 * bind and a UAPI socket (src/wireguard/io/node.ts), all on the process scheduler; reloads
 * apply a computed peer diff (config-wireguard.ts `peerDiff`) so unchanged peers keep their
 * sessions.
 */
import type { WireguardConfig } from '../config-wireguard.js';
import type { Clock } from './clock.js';
import { TsplaneError } from './errors.js';
import type { ServiceHealth } from './http-admin.js';
import type { Logger } from './log.js';
import type { Scheduler } from './loop.js';
import type { Registry } from './metrics.js';
import type { Rng } from './rng.js';

export interface WireguardRunner {
  readonly registry: Registry | undefined;
  health(): Record<string, ServiceHealth>;
  reload(next: WireguardConfig): Promise<void>;
  stop(): Promise<void>;
}

export interface WireguardRunnerDeps {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly logger: Logger;
  readonly scheduler: Scheduler;
}

/** Starts every interface of `config` (not yet available: the TUN/UDP/UAPI edges are pending). */
export async function startWireguard(_config: WireguardConfig, _deps: WireguardRunnerDeps): Promise<WireguardRunner> {
  throw new TsplaneError('WG_ERR_UNAVAILABLE', 'wireguard interfaces need the TUN/UDP/UAPI edges, not in this build yet');
}
