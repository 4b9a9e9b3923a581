/**
 * Two WireGuard implementations in two namespaces joined by a veth pair (wireguard.md §6.1),
 * configured with the stock `wg`, each tunnel address routed through its interface:
 *
 *   ns A: veth 10.66.N.1/24 fd66:N::1/64   wg 10.77.N.1/24 fd77:N::1/64
 *   ns B: veth 10.66.N.2/24 fd66:N::2/64   wg 10.77.N.2/24 fd77:N::2/64
 *
 * N is a per-pair index, so several pairs can live in one test file.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Netns } from './netns.js';
import { daemonPid, genKeyPair, genPsk, type KeyPair } from './tsplane-wg.js';

export type Impl = 'tsplane-wg' | 'wireguard-go';
export const WG_PORT = 51820;

export interface Side {
  readonly impl: Impl;
  readonly ns: string;
  readonly ifname: string;
  readonly veth: string;
  readonly outer4: string;
  readonly outer6: string;
  readonly inner4: string;
  readonly inner6: string;
  readonly key: KeyPair;
}

export interface PairOptions {
  /** Both sides use a preshared key. */
  readonly psk?: boolean;
  /** Persistent keepalive (s) that A configures for B. */
  readonly keepaliveA?: number;
  /** Outer transport over IPv6 (endpoints are the fd66:: addresses). */
  readonly outer6?: boolean;
  /** Give B an endpoint for A too (both can initiate). Default true. */
  readonly bKnowsA?: boolean;
}

export class WgPair {
  readonly a: Side;
  readonly b: Side;
  readonly #h: Netns;
  readonly #keyDir: string;

  private constructor(h: Netns, a: Side, b: Side, keyDir: string) {
    this.#h = h;
    this.a = a;
    this.b = b;
    this.#keyDir = keyDir;
  }

  /** Builds the topology and brings up both daemons; `letter` is a single lowercase letter for names. */
  static async create(h: Netns, binDir: string, n: number, letter: string, implA: Impl, implB: Impl, opts: PairOptions = {}): Promise<WgPair> {
    const keyDir = mkdtempSync('/tmp/tsp-wgio-pair-');
    h.removeLater(keyDir);
    const mk = (side: 'a' | 'b', impl: Impl, host: number): Side => ({
      impl,
      ns: h.add(`${letter}${side}`),
      ifname: h.ifname(`${letter}${side}`),
      veth: `v${letter}${side}`,
      outer4: `10.66.${n}.${host}`,
      outer6: `fd66:${n}::${host}`,
      inner4: `10.77.${n}.${host}`,
      inner6: `fd77:${n}::${host}`,
      key: genKeyPair(),
    });
    const a = mk('a', implA, 1);
    const b = mk('b', implB, 2);
    h.veth({ ns: a.ns, ifname: a.veth, addrs: [`${a.outer4}/24`, `${a.outer6}/64`] }, { ns: b.ns, ifname: b.veth, addrs: [`${b.outer4}/24`, `${b.outer6}/64`] });
    const pair = new WgPair(h, a, b, keyDir);
    const psk = opts.psk ? genPsk() : undefined;
    if (psk) writeFileSync(join(keyDir, 'psk'), psk, { mode: 0o600 });
    await pair.#start(a, binDir);
    await pair.#start(b, binDir);
    await pair.#configure(a, b, opts.outer6 ?? false, psk !== undefined, opts.keepaliveA, true);
    await pair.#configure(b, a, opts.outer6 ?? false, psk !== undefined, undefined, opts.bKnowsA ?? true);
    return pair;
  }

  async #start(s: Side, binDir: string): Promise<void> {
    const env = { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' };
    const cmd = s.impl === 'wireguard-go' ? 'wireguard-go' : join(binDir, 'tsplane-wg');
    const r = await this.#h.exec(s.ns, cmd, [s.ifname], { env, timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`${s.impl} ${s.ifname} failed: ${r.stderr}`);
  }

  async #configure(me: Side, peer: Side, outer6: boolean, psk: boolean, keepalive: number | undefined, withEndpoint: boolean): Promise<void> {
    const keyFile = join(this.#keyDir, `${me.ifname}.key`);
    writeFileSync(keyFile, me.key.privateKey, { mode: 0o600 });
    const endpoint = outer6 ? `[${peer.outer6}]:${WG_PORT}` : `${peer.outer4}:${WG_PORT}`;
    await this.wg(me, 'set', me.ifname, 'private-key', keyFile, 'listen-port', String(WG_PORT), ...this.peerArgs(peer, { psk, keepalive, endpoint: withEndpoint ? endpoint : undefined }));
    const ip = (...args: string[]) => this.#h.run(me.ns, 'ip', args);
    await ip('addr', 'add', `${me.inner4}/24`, 'dev', me.ifname);
    await ip('addr', 'add', `${me.inner6}/64`, 'dev', me.ifname, 'nodad');
    await ip('link', 'set', me.ifname, 'up');
  }

  /** `peer PUB [preshared-key F] [endpoint E] allowed-ips … [persistent-keepalive N]` for `wg set`. */
  peerArgs(peer: Side, o: { psk?: boolean; keepalive?: number | undefined; endpoint?: string | undefined } = {}): string[] {
    return [
      'peer', peer.key.publicKey,
      ...(o.psk ? ['preshared-key', join(this.#keyDir, 'psk')] : []),
      ...(o.endpoint ? ['endpoint', o.endpoint] : []),
      'allowed-ips', `${peer.inner4}/32,${peer.inner6}/128`,
      ...(o.keepalive !== undefined ? ['persistent-keepalive', String(o.keepalive)] : []),
    ];
  }

  wg(s: Side, ...args: string[]): Promise<string> {
    return this.#h.run(s.ns, 'wg', args);
  }

  /** `wg show IF dump` peer rows as objects. */
  async dump(s: Side): Promise<{ publicKey: string; endpoint: string; latestHandshake: number; rx: bigint; tx: bigint; keepalive: string }[]> {
    const rows = (await this.wg(s, 'show', s.ifname, 'dump')).trim().split('\n').slice(1);
    return rows.map((r) => {
      const f = r.split('\t');
      return { publicKey: f[0]!, endpoint: f[2]!, latestHandshake: Number(f[4]), rx: BigInt(f[5]!), tx: BigInt(f[6]!), keepalive: f[7]! };
    });
  }

  /** Pings `to` from `from`'s namespace; returns the number of replies. */
  async ping(from: Side, to: string, count = 3, extra: string[] = []): Promise<number> {
    const r = await this.#h.exec(from.ns, 'ping', [...(to.includes(':') ? ['-6'] : []), '-c', String(count), '-i', '0.2', '-W', '2', ...extra, to], { timeoutMs: 20_000 + count * 500 });
    const m = /(\d+) received/.exec(r.stdout);
    return m ? Number(m[1]) : 0;
  }

  /** Pings until one reply arrives (the first packets wait for the handshake); bounded by `tries`. */
  async pingUntilUp(from: Side, to: string, tries = 10): Promise<boolean> {
    for (let i = 0; i < tries; i++) if ((await this.ping(from, to, 1)) === 1) return true;
    return false;
  }

  daemonPid(s: Side): number | undefined {
    return daemonPid(this.#h, s.ns, s.impl, s.ifname);
  }
}
