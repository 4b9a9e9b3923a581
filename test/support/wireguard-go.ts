/**
 * The real wireguard-go as an interop peer in a test's own network namespace: create the
 * namespace and start the daemon in it, wait for its UAPI socket (wireguard.md §2.2), and stop
 * child processes by pid (SIGTERM, then SIGKILL after 3 s).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Creates namespace `ns` (loopback up) and starts `wireguard-go -f ifname` inside it. */
export function spawnWireguardGoInNetns(ns: string, ifname: string): ChildProcess {
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  return spawn('ip', ['netns', 'exec', ns, 'wireguard-go', '-f', ifname], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, LOG_LEVEL: 'error', WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' },
  });
}

/** Resolves once `sock` exists; rejects if `proc` exits first or after `timeoutMs`. */
export async function waitForUapiSocket(proc: ChildProcess, sock: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(sock)) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error('wireguard-go did not create its UAPI socket');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops a child this test started: SIGTERM, then SIGKILL if it has not exited within 3 s. */
export async function stopChild(p: ChildProcess | undefined): Promise<void> {
  if (p?.pid === undefined || p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  if (p.exitCode === null) p.kill('SIGKILL');
}
