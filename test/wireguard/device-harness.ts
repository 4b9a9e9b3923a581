/**
 * In-memory wiring for Device tests: nodes exchange DeviceOutputs through a FIFO "network"
 * driven by one ManualClock. Datagrams are copied when queued (the device may reuse its output
 * buffers on the next call, as the contract allows).
 */
import { ManualClock } from '../../src/runtime/clock.js';
import { SeededRng, type Rng } from '../../src/runtime/rng.js';
import { generatePrivateKey, publicKeyOf } from '../../src/wireguard/crypto.js';
import { Device, type DeviceOptions } from '../../src/wireguard/device.js';
import type { DeviceOutput, DropReason, Endpoint, IpPrefix, PathEndpoint, PeerConfigChange } from '../../src/wireguard/device-api.js';
import { parseIpAddress } from '../../src/wireguard/ip-packet.js';

export interface TestNode {
  readonly name: string;
  readonly dev: Device;
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
  /** Where this node's datagrams appear to come from; change it to simulate roaming. */
  endpoint: Endpoint;
  readonly tun: Uint8Array[];
  readonly drops: DropReason[];
  /** Every datagram this node sent, copied, with its destination. */
  readonly sent: { datagram: Uint8Array; to: Endpoint }[];
  /** Every datagram this node handed to the DERP relay, copied, with the destination key. */
  readonly relayed: { datagram: Uint8Array; to: Uint8Array }[];
}

export function keyPair(rng: Rng): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const privateKey = generatePrivateKey(rng.fill(new Uint8Array(32)));
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

export function prefix(text: string): IpPrefix {
  const [a, bits] = text.split('/') as [string, string];
  const address = parseIpAddress(a)!;
  return { family: address.length === 4 ? 4 : 6, address, bits: Number(bits) };
}

export function peerChange(publicKey: Uint8Array, extra: Partial<PeerConfigChange> = {}): PeerConfigChange {
  return { publicKey, remove: false, updateOnly: false, replaceAllowedIps: false, allowedIps: [], removedAllowedIps: [], ...extra };
}

/** An IPv4 or IPv6 packet (protocol 17, zero checksum: only the addresses and lengths matter here). */
export function ipPacket(src: string, dst: string, payloadBytes: number, fill = 0xab): Uint8Array {
  const s = parseIpAddress(src)!;
  const d = parseIpAddress(dst)!;
  if (s.length === 4) {
    const p = new Uint8Array(20 + payloadBytes).fill(fill);
    p[0] = 0x45;
    p[1] = 0;
    p[2] = p.length >> 8;
    p[3] = p.length & 0xff;
    p.fill(0, 4, 12);
    p[8] = 64;
    p[9] = 17;
    p.set(s, 12);
    p.set(d, 16);
    return p;
  }
  const p = new Uint8Array(40 + payloadBytes).fill(fill);
  p[0] = 0x60;
  p.fill(0, 1, 4);
  p[4] = payloadBytes >> 8;
  p[5] = payloadBytes & 0xff;
  p[6] = 17;
  p[7] = 64;
  p.set(s, 8);
  p.set(d, 24);
  return p;
}

function endpointKey(e: Endpoint): string {
  return `${e.address}|${e.port}`;
}

export class TestNet {
  readonly clock = new ManualClock();
  readonly rng: SeededRng;
  readonly nodes: TestNode[] = [];
  readonly queue: { to: TestNode; datagram: Uint8Array; from: PathEndpoint }[] = [];
  /** Return false to lose a relayed datagram (the relay delivers by destination key). */
  relayFilter: (d: { from: TestNode; to: TestNode; datagram: Uint8Array }) => boolean = () => true;
  /** Return false to lose a datagram in transit. */
  filter: (d: { from: TestNode; to: Endpoint; datagram: Uint8Array }) => boolean = () => true;
  /** Deliver a random one of the first `reorderWindow` queued datagrams (1 = FIFO). */
  reorderWindow = 1;
  #byEndpoint = new Map<string, TestNode>();

  constructor(seed = 1) {
    this.rng = new SeededRng(seed);
  }

  addNode(name: string, endpoint: Endpoint, options: Partial<DeviceOptions> = {}): TestNode {
    const { privateKey, publicKey } = keyPair(this.rng);
    const dev = new Device({ clock: this.clock, rng: new SeededRng(this.nodes.length + 100), ...options });
    dev.configure({ privateKey, replacePeers: false, peers: [] }, this.now);
    const node: TestNode = { name, dev, privateKey, publicKey, endpoint, tun: [], drops: [], sent: [], relayed: [] };
    this.nodes.push(node);
    return node;
  }

  get now(): number {
    return this.clock.monotonicMs();
  }

  /** Makes `a` and `b` peers of each other with the given allowed IPs. */
  link(a: TestNode, aAllowed: string[], b: TestNode, bAllowed: string[], extraA: Partial<PeerConfigChange> = {}, extraB: Partial<PeerConfigChange> = {}): void {
    a.dev.configure({ replacePeers: false, peers: [peerChange(b.publicKey, { endpoint: b.endpoint, allowedIps: bAllowed.map(prefix), ...extraA })] }, this.now);
    b.dev.configure({ replacePeers: false, peers: [peerChange(a.publicKey, { endpoint: a.endpoint, allowedIps: aAllowed.map(prefix), ...extraB })] }, this.now);
  }

  /** Handles a node's outputs: datagrams join the network queue, packets land on its TUN. */
  handle(node: TestNode, out: DeviceOutput[]): void {
    for (const o of out) {
      if (o.type === 'drop') node.drops.push(o.reason);
      else if (o.type === 'toTun') node.tun.push(o.packet.slice());
      else if (o.type === 'toRelay') {
        const datagram = o.datagram.slice();
        node.relayed.push({ datagram, to: o.publicKey.slice() });
        const to = this.nodes.find((n) => sameBytes(n.publicKey, o.publicKey));
        if (to !== undefined && this.relayFilter({ from: node, to, datagram })) this.queue.push({ to, datagram, from: { family: 'derp', publicKey: node.publicKey } });
      } else {
        const datagram = o.datagram.slice();
        node.sent.push({ datagram, to: o.endpoint });
        this.#refreshEndpoints();
        const to = this.#byEndpoint.get(endpointKey(o.endpoint));
        if (to !== undefined && this.filter({ from: node, to: o.endpoint, datagram })) this.queue.push({ to, datagram, from: node.endpoint });
      }
    }
    out.length = 0;
  }

  #refreshEndpoints(): void {
    this.#byEndpoint.clear();
    for (const n of this.nodes) this.#byEndpoint.set(endpointKey(n.endpoint), n);
  }

  send(node: TestNode, packet: Uint8Array): void {
    const out: DeviceOutput[] = [];
    node.dev.sendFromTun(packet, this.now, out);
    this.handle(node, out);
  }

  receive(node: TestNode, datagram: Uint8Array, from: PathEndpoint): void {
    const out: DeviceOutput[] = [];
    node.dev.receiveFromNetwork(datagram, from, this.now, out);
    this.handle(node, out);
  }

  /** Delivers queued datagrams until the network is quiet (bounded). */
  run(maxDeliveries = 10_000): void {
    for (let i = 0; i < maxDeliveries && this.queue.length > 0; i++) {
      const pick = this.reorderWindow <= 1 ? 0 : this.rng.fill(new Uint8Array(1))[0]! % Math.min(this.reorderWindow, this.queue.length);
      const [d] = this.queue.splice(pick, 1);
      this.receive(d!.to, d!.datagram, d!.from);
    }
    if (this.queue.length > 0) throw new Error('network did not go quiet');
  }

  /** Advances time by `ms`, stopping at every device deadline to poll and deliver. */
  advance(ms: number): void {
    const target = this.now + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      let next: number | undefined;
      for (const n of this.nodes) {
        const d = n.dev.nextDeadline();
        if (d !== undefined && (next === undefined || d < next)) next = d;
      }
      if (next === undefined || next > target) break;
      if (next > this.now) this.clock.advance(next - this.now);
      for (const n of this.nodes) {
        const d = n.dev.nextDeadline();
        if (d !== undefined && d <= this.now) {
          const out: DeviceOutput[] = [];
          n.dev.poll(this.now, out);
          this.handle(n, out);
        }
      }
      this.run();
    }
    if (target > this.now) this.clock.advance(target - this.now);
  }
}

export function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);
}
