/**
 * Helpers for `tsplane run` end-to-end tests: spawn the CLI (through tsx, from this checkout)
 * with JSON logs on stderr, wait for its `tsplane: ready` line (which carries the ports picked
 * for port 0), read its log lines, signal it by PID and wait for its exit code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface LogLine {
  readonly msg?: string;
  readonly level?: number;
  readonly [key: string]: unknown;
}

export interface RunningTsplane {
  readonly proc: ChildProcess;
  /** Every JSON log line so far. */
  readonly lines: LogLine[];
  /** The ready line: `derp` (URL), `stun`, `dns` (host:port list), `metrics` (host:port). */
  readonly ready: LogLine;
  /** Resolves with the first line (already seen or later) that `match` accepts. */
  waitFor(match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Starts `tsplane run CONFIG` (extra args appended) and waits until it is ready. */
export async function startTsplane(args: string[], opts: { env?: NodeJS.ProcessEnv; readyTimeoutMs?: number; netns?: string } = {}): Promise<RunningTsplane> {
  const argv = [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'src/cli/tsplane.ts'), ...args];
  // `ip netns exec` execs the command, so the PID we hold is tsplane's own.
  if (opts.netns !== undefined) argv.unshift('ip', 'netns', 'exec', opts.netns);
  const proc = spawn(argv[0]!, argv.slice(1), {
    cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env },
  });
  const lines: LogLine[] = [];
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let rest = '';
  let text = '';
  proc.stderr!.on('data', (chunk: Buffer) => {
    rest += chunk.toString();
    text += chunk.toString();
    let nl;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const raw = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        line = { msg: raw };
      }
      lines.push(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.match(line)) {
          waiters[i]!.resolve(line);
          waiters.splice(i, 1);
        }
      }
    }
  });
  proc.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const waitFor = (match: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const seen = lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (l: LogLine) => { clearTimeout(t); resolve(l); } };
      const t = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`timed out waiting for a log line; stderr so far:\n${text.slice(-3000)}`));
      }, timeoutMs);
      waiters.push(w);
    });
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    proc.kill(signal);
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    const code = await exited;
    clearTimeout(t);
    return code;
  };
  const ready = await Promise.race([
    waitFor((l) => l.msg === 'tsplane: ready', opts.readyTimeoutMs ?? 30_000),
    exited.then((code) => {
      throw new Error(`tsplane exited with ${code} before ready:\n${text.slice(-3000)}`);
    }),
  ]).catch(async (err: unknown) => {
    await stop('SIGKILL');
    throw err;
  });
  return { proc, lines, ready, waitFor, exited, stop };
}

/** `host:port` → a URL on it. */
export function httpUrl(hostPort: unknown, path: string): string {
  return `http://${String(hostPort)}${path}`;
}
