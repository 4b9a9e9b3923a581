/**
 * One Prometheus registry per process (prom-client). Services receive the registry and register
 * their own metrics under the `tsplane_` prefix, so `tsplane run` serves one merged `/metrics`.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';

export type { Registry } from 'prom-client';
export { Counter, Gauge, Histogram } from 'prom-client';

/** A fresh registry; with `processMetrics`, also RSS, event-loop lag and the other process defaults. */
export function createRegistry(opts: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'tsplane_' });
  return registry;
}
