/**
 * A small harness for end-to-end tests in network namespaces: unique names per test process
 * (`tsp-<area>-<pid>-…`), veth pairs, commands run inside with `ip netns exec` (always with a
 * timeout), daemons tracked by PID, and a cleanup that always runs (call it from afterAll).
 *
 * Interface names are limited to 15 characters, so they are `tsp-<area>-<pid mod 10^5><letter>`
 * for a 4-character area. The UAPI socket directory (/var/run/wireguard) is shared by every
 * namespace, which is why interface names must be unique host-wide.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Kills a process by PID; ignores one that is already gone. */
function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class Netns {
  readonly area: string;
  readonly #namespaces: string[] = [];
  readonly #ifnames: string[] = [];
  readonly #children: ChildProcess[] = [];
  readonly #pids = new Set<number>();
  readonly #paths: string[] = [];

  constructor(area: string) {
    if (!/^[a-z]{1,4}$/.test(area)) throw new Error('area: 1-4 lowercase letters (interface names are 15 characters at most)');
    this.area = area;
    sweepStale(area);
  }

  /** Creates namespace `tsp-<area>-<pid>-<suffix>` with loopback up. */
  add(suffix: string): string {
    const name = `tsp-${this.area}-${process.pid}-${suffix}`;
    execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
    this.#namespaces.push(name);
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { stdio: 'pipe' });
    return name;
  }

  /**
   * A unique interface name (at most 15 characters): `tsp-<area>-<pid digits><suffix>` with a
   * 1- or 2-character suffix that tells the interfaces of one test process apart.
   */
  ifname(suffix: string): string {
    if (!/^[a-z0-9]{1,2}$/.test(suffix)) throw new Error('ifname suffix: 1-2 of [a-z0-9]');
    const digits = String(process.pid % (suffix.length === 1 ? 100_000 : 10_000));
    const name = `tsp-${this.area}-${digits}${suffix}`;
    if (name.length > 15) throw new Error(`interface name too long: ${name}`);
    this.#ifnames.push(name);
    return name;
  }

  /** Joins two namespaces with a veth pair and gives each end its addresses (CIDR strings). */
  veth(a: { ns: string; ifname: string; addrs: string[] }, b: { ns: string; ifname: string; addrs: string[] }): void {
    execFileSync('ip', ['link', 'add', a.ifname, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns], { stdio: 'pipe' });
    for (const end of [a, b]) {
      for (const addr of end.addrs) {
        const args = ['-n', end.ns, 'addr', 'add', addr, 'dev', end.ifname];
        if (addr.includes(':')) args.push('nodad');
        execFileSync('ip', args, { stdio: 'pipe' });
      }
      execFileSync('ip', ['-n', end.ns, 'link', 'set', end.ifname, 'up'], { stdio: 'pipe' });
    }
  }

  /** Runs a command inside `ns`; never throws on a non-zero exit; kills it after `timeoutMs`. */
  exec(ns: string, cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<ExecResult> {
    return new Promise((resolve) => {
      const child = execFile(
        'ip',
        ['netns', 'exec', ns, cmd, ...args],
        { timeout: opts.timeoutMs ?? 20_000, env: opts.env ?? process.env, cwd: opts.cwd, maxBuffer: 64 << 20, killSignal: 'SIGKILL' },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        },
      );
      if (child.pid) this.#pids.add(child.pid);
      if (opts.input !== undefined) child.stdin?.end(opts.input);
      else child.stdin?.end();
    });
  }

  /** Like `exec` but throws (with stderr) on a non-zero exit; returns stdout. */
  async run(ns: string, cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<string> {
    const r = await this.exec(ns, cmd, args, opts);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${ns}) exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /** Starts a long-running process inside `ns` and tracks it for cleanup. */
  spawn(ns: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#children.push(child);
    if (child.pid) this.#pids.add(child.pid);
    return child;
  }

  /** PIDs of every process inside `ns` (our daemons, including detached ones). */
  pids(ns: string): number[] {
    try {
      return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => /^\d+$/.test(l))
        .map(Number);
    } catch {
      return [];
    }
  }

  /** Removes `path` at cleanup (temp dirs, sockets). */
  removeLater(path: string): void {
    this.#paths.push(path);
  }

  /** Kills what we started (by PID), deletes our namespaces and files. Safe to call twice. */
  async cleanup(): Promise<void> {
    const pids = new Set<number>(this.#pids);
    for (const ns of this.#namespaces) for (const p of this.pids(ns)) pids.add(p);
    for (const c of this.#children) if (c.pid && c.exitCode === null) pids.add(c.pid);
    for (const p of pids) kill(p, 'SIGTERM');
    const deadline = Date.now() + 3000;
    while ([...pids].some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const p of pids) if (alive(p)) kill(p, 'SIGKILL');
    for (const ns of this.#namespaces.splice(0)) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' });
      } catch {
        // already deleted
      }
    }
    for (const ifname of this.#ifnames) {
      const sock = `/var/run/wireguard/${ifname}.sock`;
      if (existsSync(sock)) rmSync(sock, { force: true });
    }
    for (const p of this.#paths.splice(0)) rmSync(p, { recursive: true, force: true });
    this.#pids.clear();
  }
}

/**
 * Deletes namespaces this harness left behind when a test process was killed before its
 * cleanup ran: only `tsp-<area>-<pid>-…` names whose creating process is gone and in which no
 * process runs. Best effort (not root, no `ip`: nothing to do).
 */
function sweepStale(area: string): void {
  let names: string[];
  try {
    names = execFileSync('ip', ['netns', 'list'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 }).toString().split('\n').map((l) => l.split(' ')[0] ?? '');
  } catch {
    return;
  }
  const re = new RegExp(`^tsp-${area}-(\\d+)-[a-z0-9]+$`);
  for (const name of names) {
    const m = re.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    try {
      const pids = execFileSync('ip', ['netns', 'pids', name], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 }).toString().trim();
      if (pids === '') execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore', timeout: 5_000 });
    } catch {
      // gone meanwhile, or not ours to delete
    }
  }
}

/** True when `pid` has exited (a zombie waiting for init to reap it counts as exited). */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/** Polls `check` every `everyMs` until it returns true or `timeoutMs` passes; returns the last result. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
