/**
 * `tsplane run [CONFIG]` and `tsplane check CONFIG`.
 *
 * run: validates the whole file, then starts its services (WireGuard, DERP, DNS, the admin
 * listener) on this one event loop with one Scheduler and one logger. With no CONFIG it runs the
 * embedded default, examples/tsplane.yaml of this package. SIGHUP re-reads and validates the
 * file and applies it (an invalid file is logged and the running config stays); SIGTERM and
 * SIGINT stop gracefully, bounded by `stop_timeout`, and exit 0 (1 when the bound was hit).
 *
 * check: validates without starting anything. Exit codes: 0 valid, 1 invalid, 2 usage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTsplaneConfig, LOG_LEVELS, type LogLevel, type TsplaneConfig } from '../config.js';
import { SystemClock } from '../runtime/clock.js';
import { loadConfigFile } from '../runtime/config-file.js';
import { ConfigError } from '../runtime/errors.js';
import { createLogger, type Logger } from '../runtime/log.js';
import { Scheduler } from '../runtime/loop.js';
import { SystemRng } from '../runtime/rng.js';
import { Runtime } from '../runtime/service.js';

const RUN_USAGE = `usage: tsplane run [CONFIG] [--log-level LEVEL]
  CONFIG defaults to the embedded examples/tsplane.yaml (DERP + STUN + DNS on loopback).
  SIGHUP reloads CONFIG; SIGTERM/SIGINT stop gracefully.
`;
const CHECK_USAGE = `usage: tsplane check CONFIG
  Validates CONFIG without starting anything. Exit 0 valid, 1 invalid, 2 usage.
`;

/** The embedded default config: examples/tsplane.yaml at the package root (works from src/, dist/ and a global install). */
export function defaultConfigPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'examples', 'tsplane.yaml');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new ConfigError('examples/tsplane.yaml', undefined, '(file)', 'the embedded default config is missing from this install');
}

/** Reads and validates a config file (throws ConfigError naming file, line and key). */
export function loadTsplaneConfig(path: string, env: NodeJS.ProcessEnv = process.env): TsplaneConfig {
  return parseTsplaneConfig(loadConfigFile(path, { env }), (p) => readFileSync(p, 'utf8'));
}

/** A one-line summary of what a config runs (no secrets). */
export function describeConfig(c: TsplaneConfig): string {
  const parts: string[] = [];
  for (const i of c.wireguard?.interfaces ?? []) parts.push(`wireguard ${i.name} (${i.peers.length} peers)`);
  for (const s of c.wireguard?.skipped ?? []) parts.push(`wireguard ${s.name} (optional, skipped: ${s.reason})`);
  if (c.derp) parts.push(`derp ${c.derp.listen.host}:${c.derp.listen.port}${c.derp.stunListen ? ` + stun ${c.derp.stunListen.host}:${c.derp.stunListen.port}` : ''}`);
  if (c.dns) parts.push(`dns ${c.dns.listeners.map((l) => `${l.address}:${l.port}`).join(',')}`);
  if (c.metrics) parts.push(`metrics ${c.metrics.listen.host}:${c.metrics.listen.port}`);
  return parts.join('; ');
}

/** `tsplane check CONFIG`. */
export function checkCommand(args: readonly string[]): number {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(CHECK_USAGE);
    return 0;
  }
  if (args.length !== 1 || args[0]!.startsWith('-')) {
    process.stderr.write(CHECK_USAGE);
    return 2;
  }
  try {
    const c = loadTsplaneConfig(args[0]!);
    process.stdout.write(`${args[0]}: ok: ${describeConfig(c)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tsplane check: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** `tsplane run [CONFIG]`: resolves with the exit code once stopped. */
export async function runCommand(args: readonly string[]): Promise<number> {
  let file: string | undefined;
  let levelOverride: LogLevel | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') {
      process.stdout.write(RUN_USAGE);
      return 0;
    } else if (a === '--log-level') {
      const v = args[++i];
      if (!(LOG_LEVELS as readonly string[]).includes(v ?? '')) {
        process.stderr.write(`tsplane run: --log-level: want one of ${LOG_LEVELS.join(' | ')}\n`);
        return 2;
      }
      levelOverride = v as LogLevel;
    } else if (a.startsWith('-') || file !== undefined) {
      process.stderr.write(`tsplane run: unexpected argument '${a}'\n${RUN_USAGE}`);
      return 2;
    } else file = a;
  }
  let config: TsplaneConfig;
  let path: string;
  try {
    path = file ?? defaultConfigPath();
    config = withLevel(loadTsplaneConfig(path), levelOverride);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tsplane run: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const pretty = config.log.format === 'pretty' || (config.log.format === 'auto' && process.stderr.isTTY === true);
  const logger = createLogger({ level: config.log.level, pretty, name: 'tsplane' });
  const clock = new SystemClock();
  const scheduler = new Scheduler(clock);
  logger.info({ config: path, services: describeConfig(config), pid: process.pid }, 'tsplane: starting');
  // A SIGHUP while starting must not kill the process (its default action); it is applied once ready.
  let hupWhileStarting = false;
  const earlyHup = (): void => {
    hupWhileStarting = true;
  };
  process.on('SIGHUP', earlyHup);
  let runtime: Runtime;
  try {
    runtime = await Runtime.start(config, { clock, rng: new SystemRng(), logger, scheduler });
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'tsplane: could not start');
    process.off('SIGHUP', earlyHup);
    scheduler.stop();
    await flush(logger);
    return 1;
  }
  logger.info(readyFacts(runtime), 'tsplane: ready');
  return new Promise<number>((resolve) => {
    let reloading = Promise.resolve();
    const onHup = (): void => {
      reloading = reloading.then(async () => {
        let next: TsplaneConfig;
        try {
          next = withLevel(loadTsplaneConfig(path), levelOverride);
        } catch (err) {
          logger.error({ err: (err as Error).message }, 'tsplane: reload: invalid config; keeping the running one');
          return;
        }
        try {
          await runtime.reload(next);
          logger.info({ services: describeConfig(next) }, 'tsplane: reloaded');
        } catch (err) {
          logger.error({ err: (err as Error).message }, 'tsplane: reload: a service failed to apply the new config');
        }
      });
    };
    const onStop = (signal: NodeJS.Signals): void => {
      process.off('SIGHUP', onHup);
      process.off('SIGINT', onStop);
      process.off('SIGTERM', onStop);
      logger.info({ signal }, 'tsplane: stopping');
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<number>((r) => {
        timer = setTimeout(() => r(1), runtime.config.stopTimeoutMs);
      });
      void Promise.race([reloading.then(() => runtime.stop()).then(() => 0), bound]).then(async (code) => {
        clearTimeout(timer);
        scheduler.stop();
        if (code === 0) logger.info('tsplane: stopped');
        else logger.error({ stopTimeoutMs: runtime.config.stopTimeoutMs }, 'tsplane: stop timed out; exiting anyway');
        await flush(logger);
        // A handle some library left open must not keep a stopped process alive.
        setTimeout(() => process.exit(code), 200).unref();
        resolve(code);
      });
    };
    process.on('SIGHUP', onHup);
    process.off('SIGHUP', earlyHup);
    process.on('SIGINT', onStop);
    process.on('SIGTERM', onStop);
    if (hupWhileStarting) onHup();
  });
}

function withLevel(c: TsplaneConfig, level: LogLevel | undefined): TsplaneConfig {
  return level ? { ...c, log: { ...c.log, level } } : c;
}

/** Where each service ended up listening (ports chosen with 0 are known only now). */
function readyFacts(rt: Runtime): Record<string, unknown> {
  const facts: Record<string, unknown> = {};
  if (rt.derp) {
    facts.derp = rt.derp.url;
    if (rt.derp.stun) facts.stun = `${rt.derp.stun.address().address}:${rt.derp.stun.address().port}`;
  }
  if (rt.dns) facts.dns = rt.dns.addresses.map((a) => `${a.host}:${a.port}`);
  if (rt.admin) facts.metrics = `${rt.admin.address.host}:${rt.admin.address.port}`;
  return facts;
}

function flush(logger: Logger): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}
