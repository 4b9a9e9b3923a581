/**
 * Data-plane interop of the sans-IO Device with the real wireguard-go: handshakes in both roles,
 * then ICMP echo through wireguard-go's TUN and the namespace's own kernel stack.
 *
 * Topology: one network namespace `tsp-dev-<pid>` holding wireguard-go (TUN 10.78.0.1/24) and
 * one tiny UDP relay per Device (a child `node -e` process: this process cannot enter the
 * namespace). All UDP stays on the namespace's 127.0.0.1. Each Device runs here; its datagrams
 * cross the relay's stdin/stdout as hex lines. Device A (10.78.0.2) initiates; wireguard-go
 * initiates to Device B (10.78.0.3) when `ping` inside the namespace needs it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { missing } from '../support/prereq.js';
import { spawnWireguardGoInNetns, stopChild, waitForUapiSocket } from '../support/wireguard-go.js';
import { spawnNetnsUdpRelay } from '../support/netns-udp-relay.js';
import { uapiRequest } from '../support/uapi-client.js';
import { identity } from '../support/wg-keys.js';
import { fromHex, toHex } from '../../src/runtime/bytes.js';
import { SystemClock } from '../../src/runtime/clock.js';
import { SystemRng } from '../../src/runtime/rng.js';
import { Device } from '../../src/wireguard/device.js';
import type { DeviceOutput, Endpoint } from '../../src/wireguard/device-api.js';
import { parseIpAddress } from '../../src/wireguard/ip-packet.js';

const NS = `tsp-dev-${process.pid}`;
const IFNAME = `tspdev${process.pid}`.slice(0, 15);
const SOCK = `/var/run/wireguard/${IFNAME}.sock`;
const WAIT_MS = 15_000;

/** A Device wired to one relay: datagrams out through the relay, datagrams in from it. */
class Wired {
  readonly clock = new SystemClock();
  readonly dev: Device;
  readonly tun: Uint8Array[] = [];
  readonly drops: string[] = [];
  port = 0;
  readonly #out: DeviceOutput[] = [];
  constructor(readonly child: ChildProcess, privateKey: Uint8Array) {
    this.dev = new Device({ clock: this.clock, rng: new SystemRng() });
    this.dev.configure({ privateKey, replacePeers: false, peers: [] }, this.clock.monotonicMs());
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const j = JSON.parse(line) as { bound?: number; hex?: string; port?: number };
      if (j.bound !== undefined) this.port = j.bound;
      else this.#flush((out) => this.dev.receiveFromNetwork(fromHex(j.hex!), { family: 4, address: '127.0.0.1', port: j.port! }, this.clock.monotonicMs(), out));
    });
  }
  sendFromTun(packet: Uint8Array): void {
    this.#flush((out) => this.dev.sendFromTun(packet, this.clock.monotonicMs(), out));
  }
  /** Runs the device's due timers (the test's stand-in for the runtime scheduler). */
  tick(): void {
    const d = this.dev.nextDeadline();
    if (d !== undefined && d <= this.clock.monotonicMs()) this.#flush((out) => this.dev.poll(this.clock.monotonicMs(), out));
  }
  #flush(call: (out: DeviceOutput[]) => void): void {
    const out = this.#out;
    out.length = 0;
    call(out);
    for (const o of out) {
      if (o.type === 'toNetwork') this.child.stdin!.write(JSON.stringify({ hex: toHex(o.datagram), port: o.endpoint.port }) + '\n');
      else if (o.type === 'toTun') this.tun.push(o.packet.slice());
      else if (o.type === 'drop') this.drops.push(o.reason);
    }
    out.length = 0;
  }
  async waitBound(): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (this.port === 0) {
      if (Date.now() > deadline) throw new Error('relay did not bind');
      await sleep(50);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits (ticking the devices) until `done()` or the timeout. */
async function until(devices: Wired[], done: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    for (const d of devices) d.tick();
    await sleep(10);
  }
}

function checksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An IPv4 ICMP echo request (type 8) or reply (type 0) with valid checksums. */
function icmpEcho(type: 0 | 8, src: string, dst: string, id: number, seq: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + 8 + payload.length);
  p.set([0x45, 0, p.length >> 8, p.length & 0xff, 0, 0, 0x40, 0, 64, 1, 0, 0]);
  p.set(parseIpAddress(src)!, 12);
  p.set(parseIpAddress(dst)!, 16);
  const ip = checksum(p.subarray(0, 20));
  p[10] = ip >> 8;
  p[11] = ip & 0xff;
  p.set([type, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff], 20);
  p.set(payload, 28);
  const c = checksum(p.subarray(20));
  p[22] = c >> 8;
  p[23] = c & 0xff;
  return p;
}

function uapi(request: string): Promise<string> {
  return uapiRequest(SOCK, request, WAIT_MS);
}

const absent = missing('netns', 'tun', { command: 'wireguard-go' }, { command: 'ping' });

describe.skipIf(absent.length > 0)('Device data plane interop with wireguard-go', () => {
  const rng = new SystemRng();
  const wg = identity(rng);
  const usA = identity(rng);
  const usB = identity(rng);
  let wgProc: ChildProcess | undefined;
  let a: Wired | undefined;
  let b: Wired | undefined;
  let wgEndpoint: Endpoint;

  beforeAll(async () => {
    wgProc = spawnWireguardGoInNetns(NS, IFNAME);
    await waitForUapiSocket(wgProc, SOCK, WAIT_MS);
    execFileSync('ip', ['-n', NS, 'addr', 'add', '10.78.0.1/24', 'dev', IFNAME]);
    execFileSync('ip', ['-n', NS, 'link', 'set', IFNAME, 'up']);
    const relay = () => spawnNetnsUdpRelay(NS);
    a = new Wired(relay(), usA.privateKey);
    b = new Wired(relay(), usB.privateKey);
    await a.waitBound();
    await b.waitBound();
    await uapi(
      `set=1\nprivate_key=${toHex(wg.privateKey)}\nlisten_port=0\n` +
        `public_key=${toHex(usA.publicKey)}\nallowed_ip=10.78.0.2/32\n` +
        `public_key=${toHex(usB.publicKey)}\nendpoint=127.0.0.1:${b.port}\nallowed_ip=10.78.0.3/32\n\n`,
    );
    const port = Number(/listen_port=(\d+)/.exec(await uapi('get=1\n\n'))?.[1]);
    expect(port).toBeGreaterThan(0);
    wgEndpoint = { family: 4, address: '127.0.0.1', port };
    const peer = (publicKey: Uint8Array) => ({ publicKey, endpoint: wgEndpoint, remove: false, updateOnly: false, replaceAllowedIps: false, removedAllowedIps: [],
      allowedIps: [{ family: 4 as const, address: Uint8Array.of(10, 78, 0, 0), bits: 24 }] });
    a.dev.configure({ replacePeers: false, peers: [peer(wg.publicKey)] }, a.clock.monotonicMs());
    b.dev.configure({ replacePeers: false, peers: [peer(wg.publicKey)] }, b.clock.monotonicMs());
  }, 60_000);

  afterAll(async () => {
    for (const w of [a, b]) {
      w?.child.stdin?.end();
      await stopChild(w?.child);
    }
    await stopChild(wgProc);
    try {
      execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  });

  it('as initiator: an echo request crosses wireguard-go and the kernel answers it', async () => {
    const payload = rng.fill(new Uint8Array(56));
    a!.sendFromTun(icmpEcho(8, '10.78.0.2', '10.78.0.1', 0x1234, 1, payload));
    await until([a!], () => a!.tun.length > 0);
    const reply = a!.tun[0]!;
    expect(reply[9]).toBe(1); // ICMP
    expect(Array.from(reply.subarray(12, 20))).toEqual([10, 78, 0, 1, 10, 78, 0, 2]);
    expect(reply[20]).toBe(0); // echo reply
    expect(toHex(reply.subarray(28))).toBe(toHex(payload));
    // A second one goes straight out on the established session, padded to 16 inside.
    a!.sendFromTun(icmpEcho(8, '10.78.0.2', '10.78.0.1', 0x1234, 2, payload.subarray(0, 13)));
    await until([a!], () => a!.tun.length > 1);
    expect(a!.drops).toEqual([]);
  });

  it('as responder: wireguard-go initiates for ping, and our replies reach ping', async () => {
    const ping = spawn('ip', ['netns', 'exec', NS, 'ping', '-c', '3', '-i', '0.2', '-W', '5', '10.78.0.3'], { stdio: 'ignore' });
    let exitCode: number | null = null;
    ping.once('exit', (c) => (exitCode = c ?? -1));
    let answered = 0;
    try {
      await until([b!], () => {
        // Answer every echo request that reached our "TUN".
        while (b!.tun.length > 0) {
          const req = b!.tun.shift()!;
          if (req[9] !== 1 || req[20] !== 8) continue;
          const id = (req[24]! << 8) | req[25]!;
          const seq = (req[26]! << 8) | req[27]!;
          b!.sendFromTun(icmpEcho(0, '10.78.0.3', '10.78.0.1', id, seq, req.subarray(28)));
          answered++;
        }
        return exitCode !== null;
      }, 30_000);
    } finally {
      if (ping.exitCode === null) ping.kill('SIGKILL');
    }
    expect(answered).toBeGreaterThanOrEqual(3);
    expect(exitCode).toBe(0);
    expect(b!.drops).toEqual([]);
  });

  it('agrees with wireguard-go on rx/tx bytes (WireGuard message bytes)', async () => {
    await sleep(300); // let in-flight datagrams land
    const text = await uapi('get=1\n\n');
    const blocks = text.split('public_key=').slice(1);
    for (const [w, us] of [[a!, usA], [b!, usB]] as const) {
      const block = blocks.find((bl) => bl.startsWith(toHex(us.publicKey)))!;
      const wgRx = BigInt(/rx_bytes=(\d+)/.exec(block)![1]!);
      const wgTx = BigInt(/tx_bytes=(\d+)/.exec(block)![1]!);
      const ours = w.dev.status(w.clock.monotonicMs()).peers[0]!;
      expect(ours.txBytes).toBe(wgRx);
      expect(ours.rxBytes).toBe(wgTx);
      expect(ours.lastHandshakeWallMs).toBeGreaterThan(0);
    }
  });
});
