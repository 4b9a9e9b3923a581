#!/usr/bin/env node
/**
 * `tsplane-wg [-f|--foreground] INTERFACE`: a userspace WireGuard daemon with wireguard-go's
 * command line, so `wg`, `wg-quick` (WG_QUICK_USERSPACE_IMPLEMENTATION=tsplane-wg) and
 * scripts written for wireguard-go drive it unchanged (wireguard.md §2.1).
 *
 * It creates TUN INTERFACE and the control socket /var/run/wireguard/INTERFACE.sock, then, unless
 * -f, re-spawns itself detached and exits 0 once the child reports both exist (non-zero with the
 * child's message otherwise). It exits and removes the socket when the interface is deleted
 * (`ip link del`, as `wg-quick down` does), when the socket file is deleted, and on SIGTERM/SIGINT.
 *
 * Environment: LOG_LEVEL=error|verbose|debug|silent (default error), as wireguard-go.
 * TSPLANE_DERP_URL=http(s)://host[:port]/derp: a DERP relay to fall back to when direct UDP to
 * a peer fails (the node connects to it with its WireGuard key; see wireguard/path.ts).
 */
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { argv, env, exit, stderr, stdout } from 'node:process';
import { SystemClock } from '../runtime/clock.js';
import { createLogger } from '../runtime/log.js';
import { SystemRng } from '../runtime/rng.js';
import { Device } from '../wireguard/device.js';
import { WgNode } from '../wireguard/io/node.js';
import { isValidInterfaceName } from '../wireguard/io/tun.js';
import { versionText } from './version.js';

const USAGE = `usage: tsplane-wg [-f|--foreground] INTERFACE\n       tsplane-wg --version\n`;
/** Marks the detached child; its value is the fd of the pipe that carries the ready line. */
const CHILD_ENV = 'TSPLANE_WG_READY_FD';
/** How long the parent waits for the child to report. */
const DAEMON_READY_TIMEOUT_MS = 20_000;

type LogLevel = 'error' | 'info' | 'debug' | 'silent';
function logLevel(): LogLevel {
  switch (env.LOG_LEVEL) {
    case 'verbose':
      return 'info';
    case 'debug':
      return 'debug';
    case 'silent':
      return 'silent';
    default:
      return 'error';
  }
}

function parseArgs(args: string[]): { foreground: boolean; ifname: string } | undefined {
  let foreground = false;
  const rest: string[] = [];
  for (const a of args) {
    if (a === '-f' || a === '--foreground') foreground = true;
    else rest.push(a);
  }
  const [ifname] = rest;
  if (rest.length !== 1 || ifname === undefined || ifname.startsWith('-')) return undefined;
  return { foreground, ifname };
}

/**
 * The daemon runs with a 4 MiB young generation (V8's default grows to 16 MiB semi-spaces): the
 * packet path allocates fast and short-lived, and with big semi-spaces the old generation's
 * headroom stays below one scavenge's promotion, so V8 runs back-to-back full GCs (BENCHMARKS.md,
 * issue 6) and RSS grows by the extra semi-space size. Given only when the user set none.
 */
const DAEMON_HEAP_FLAGS = ['--max-semi-space-size=4'];

/** Parent side of daemon mode: spawn the child, relay its verdict, exit. */
function daemonize(ifname: string): Promise<number> {
  const withLogs = env.LOG_LEVEL !== undefined && env.LOG_LEVEL !== 'silent';
  const userSet = [...process.execArgv, env.NODE_OPTIONS ?? ''].some((a) => a.includes('semi-space-size'));
  const scriptArgs = [...process.execArgv, ...(userSet ? [] : DAEMON_HEAP_FLAGS), argv[1] ?? '', '-f', ifname];
  const child = spawn(process.execPath, scriptArgs, {
    detached: true,
    stdio: ['ignore', withLogs ? 'inherit' : 'ignore', withLogs ? 'inherit' : 'ignore', 'pipe'],
    env: { ...env, [CHILD_ENV]: '3' },
  });
  return new Promise((resolve) => {
    let text = '';
    let settled = false;
    const finish = (code: number, message?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (message) stderr.write(`tsplane-wg: ${message}\n`);
      child.stdio[3]?.destroy();
      child.unref();
      resolve(code);
    };
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      finish(1, `${ifname}: the daemon did not report ready within ${DAEMON_READY_TIMEOUT_MS} ms`);
    }, DAEMON_READY_TIMEOUT_MS);
    const pipe = child.stdio[3];
    pipe?.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      const line = text.slice(0, nl);
      if (line === 'ready') finish(0);
      else finish(1, line.replace(/^error: /, ''));
    });
    pipe?.on('error', () => undefined);
    child.once('exit', (code, signal) => finish(1, `${ifname}: the daemon exited early (${signal ?? `code ${code}`})`));
    child.once('error', (err) => finish(1, `cannot start the daemon: ${err.message}`));
  });
}

/** Tells a waiting parent (if any) how startup went, then lets go of the pipe. */
function report(line: string): void {
  const fd = Number(env[CHILD_ENV]);
  if (!Number.isInteger(fd) || fd < 3) return;
  delete env[CHILD_ENV];
  try {
    writeSync(fd, `${line.replace(/\n/g, ' ')}\n`);
    closeSync(fd);
  } catch {
    // The parent gave up waiting.
  }
}

/** Counters as plain JSON (bigints as decimal strings). */
function statsForLog(node: WgNode): Record<string, string | Record<string, string>> {
  const s = node.stats();
  return {
    tunPacketsRead: String(s.tunPacketsRead),
    tunPacketsWritten: String(s.tunPacketsWritten),
    udpDatagramsReceived: String(s.udpDatagramsReceived),
    udpDatagramsSent: String(s.udpDatagramsSent),
    relayPacketsSent: String(s.relayPacketsSent),
    relayPacketsReceived: String(s.relayPacketsReceived),
    drops: Object.fromEntries([...s.drops].map(([k, v]) => [k, String(v)])),
    tunOffload: {
      mode: s.tunOffload.mode,
      superpacketsRead: String(s.tunOffload.superpacketsRead),
      segmentsSplit: String(s.tunOffload.segmentsSplit),
      superpacketsWritten: String(s.tunOffload.superpacketsWritten),
      segmentsCoalesced: String(s.tunOffload.segmentsCoalesced),
      ...Object.fromEntries([...s.tunOffload.drops].map(([k, v]) => [`drop:${k}`, String(v)])),
    },
  };
}

async function runDaemon(ifname: string): Promise<number> {
  const log = createLogger({ name: 'tsplane-wg', level: logLevel(), pretty: false });
  let node: WgNode;
  let stoppedBy: (reason: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (stoppedBy = resolve));
  try {
    const clock = new SystemClock();
    const device = new Device({ clock, rng: new SystemRng() });
    // One relay URL, or several (the nodes of a meshed region) separated by commas.
    const derpUrl = (env.TSPLANE_DERP_URL ?? '').split(',').map((u) => u.trim()).filter((u) => u !== '');
    for (const u of derpUrl) if (!URL.canParse(u)) throw new Error(`TSPLANE_DERP_URL: not a URL: ${u}`);
    node = await WgNode.start({ ifname, device, clock, log, onStopped: (r) => stoppedBy(r), ...(derpUrl.length > 0 ? { derpUrl } : {}) });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    report(`error: ${message}`);
    if (env[CHILD_ENV] === undefined) stderr.write(`tsplane-wg: ${message}\n`);
    return 1;
  }
  const onSignal = (sig: string): void => {
    log.info({ signal: sig }, 'signal received');
    void node.stop().then(() => stoppedBy(sig));
  };
  // Handlers go in before the parent hears "ready": a SIGTERM right after must still clean up.
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', () => undefined);
  // SIGUSR1 logs the packet and drop counters (at the verbose level).
  process.on('SIGUSR1', () => log.info(statsForLog(node), 'counters'));
  report('ready');
  const reason = await stopped;
  log.info({ reason, ...statsForLog(node) }, 'shut down');
  return 0;
}

export async function main(args: string[]): Promise<number> {
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
    stdout.write(versionText('tsplane-wg', 'Userspace WireGuard daemon'));
    return 0;
  }
  if (args.includes('-h') || args.includes('--help')) {
    stdout.write(USAGE);
    return 0;
  }
  const parsed = parseArgs(args);
  if (!parsed) {
    stderr.write(USAGE);
    return 2;
  }
  if (!isValidInterfaceName(parsed.ifname)) {
    stderr.write(`tsplane-wg: invalid interface name "${parsed.ifname}"\n`);
    return 2;
  }
  if (!parsed.foreground && env[CHILD_ENV] === undefined) return daemonize(parsed.ifname);
  return runDaemon(parsed.ifname);
}

main(argv.slice(2)).then(
  (code) => exit(code),
  (err: unknown) => {
    stderr.write(`tsplane-wg: ${err instanceof Error ? err.message : String(err)}\n`);
    exit(1);
  },
);
