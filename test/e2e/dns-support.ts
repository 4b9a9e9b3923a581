/**
 * Helpers for DNS end-to-end tests: free loopback ports, unbound instances answering only from
 * local-data (they never recurse: `local-zone: "." static`), and dig. Everything stays on
 * 127.0.0.0/8 and every process is killed by PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../src/runtime/config-file.js';
import { parseDnsConfig, type DnsConfig } from '../../src/dns/config.js';

/** A port free for both UDP and TCP on `host` right now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const udp = dgram.createSocket('udp4');
    const port = await new Promise<number>((resolve) => udp.bind(0, host, () => resolve(udp.address().port)));
    const ok = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, host, () => srv.close(() => resolve(true)));
    });
    udp.close();
    if (ok) return port;
  }
  throw new Error('no free port');
}

export interface Unbound {
  readonly port: number;
  readonly proc: ChildProcess;
  readonly dir: string;
  stop(): Promise<void>;
}

/** Starts `unbound -d` on 127.0.0.1:port serving `localLines` (local-zone/local-data lines). */
export async function startUnbound(name: string, localLines: string[], port?: number, opts: { cpu?: number; extra?: string[] } = {}): Promise<Unbound> {
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), `tsp-dnsc-${name}-${process.pid}-`));
  const conf = [
    'server:',
    `  interface: 127.0.0.1@${p}`,
    `  port: ${p}`,
    '  do-daemonize: no',
    '  username: ""',
    '  chroot: ""',
    `  directory: "${dir}"`,
    `  pidfile: "${dir}/unbound.pid"`,
    '  use-syslog: no',
    `  logfile: ""`,
    '  verbosity: 0',
    '  num-threads: 1',
    '  do-ip6: no',
    '  module-config: "iterator"',
    '  outgoing-interface: 127.0.0.1',
    '  access-control: 127.0.0.0/8 allow',
    ...(opts.extra?.some((l) => l.startsWith('forward-zone')) ? [] : ['  local-zone: "." static']),
    ...localLines.map((l) => `  ${l}`),
    'remote-control:',
    '  control-enable: no',
    ...(opts.extra ?? []),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'unbound.conf'), conf);
  const argv = ['unbound', '-d', '-c', join(dir, 'unbound.conf')];
  if (opts.cpu !== undefined) argv.unshift('taskset', '-c', String(opts.cpu));
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready when it answers a query for the root SOA (static "." zone answers without recursion).
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`unbound ${name} exited: ${stderr}`);
    const r = await dig(p, ['.', 'SOA', '+time=1', '+tries=1']).catch(() => undefined);
    if (r && r.status !== undefined) return { port: p, proc, dir, stop };
    await new Promise((res) => setTimeout(res, 100));
  }
  await stop();
  throw new Error(`unbound ${name} did not start: ${stderr}`);
}

export interface DigResult {
  readonly status: string | undefined;
  readonly answers: { name: string; ttl: number; type: string; data: string }[];
  readonly flags: string[];
  readonly raw: string;
}

/** Runs dig against 127.0.0.1:port (async: the server under test may share this event loop). */
export function dig(port: number, args: string[]): Promise<DigResult> {
  return new Promise((resolve, reject) => {
    execFile('dig', [`@127.0.0.1`, '-p', String(port), '+time=3', '+tries=1', ...args], { timeout: 15_000 }, (err, stdout) => {
      if (err && !stdout) return reject(err);
      const status = /status: ([A-Z]+)/.exec(stdout)?.[1];
      const flags = /;; flags: ([a-z ]+);/.exec(stdout)?.[1]?.trim().split(/\s+/) ?? [];
      const answers: DigResult['answers'] = [];
      const section = stdout.split(';; ANSWER SECTION:\n')[1]?.split('\n\n')[0] ?? '';
      for (const line of section.split('\n')) {
        const m = /^(\S+)\s+(\d+)\s+IN\s+(\S+)\s+(.*)$/.exec(line);
        if (m) answers.push({ name: m[1]!, ttl: Number(m[2]), type: m[3]!, data: m[4]! });
      }
      resolve({ status, answers, flags, raw: stdout });
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A validated DnsConfig from a `dns:` mapping written as a JS object (same schema as YAML files). */
export function dnsConfig(mapping: unknown): DnsConfig {
  return parseDnsConfig(parseConfigText(JSON.stringify(mapping), 'test config', { baseDir: process.cwd() }));
}
