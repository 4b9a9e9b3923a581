/**
 * The STUN listener: one UDP socket (node:dgram) that feeds every datagram to the sans-IO
 * responder in `../stun.ts` and sends back what it returns. Mirrors derper's `-stun`
 * (UDP 3478 on the same IP as the HTTP listener; derp.md §2.5), with per-disposition counters
 * named like derper's `stun_requests{disposition}` and `stun_addrfamily{family}`.
 */
import { createSocket, type Socket } from 'node:dgram';
import { parseIp } from '../ip-address.js';
import { answerBindingRequest, type StunDropReason, type StunPolicy } from '../stun.js';

/** derper's default STUN port. */
export const STUN_DEFAULT_PORT = 3478;

export interface StunListenerOptions extends StunPolicy {
  /** Address to bind; an IPv6 literal (or `::`) makes a udp6 socket. */
  readonly host: string;
  /** UDP port; 0 picks an ephemeral port. Default 3478. */
  readonly port?: number;
}

/** Counters, 64-bit as house style asks. */
export interface StunCounters {
  success: bigint;
  /** Datagrams that were not an acceptable Binding Request (derper: `not_stun`). */
  notStun: bigint;
  readError: bigint;
  writeError: bigint;
  ipv4: bigint;
  ipv6: bigint;
  readonly drops: Map<StunDropReason, bigint>;
}

/** A bound STUN responder. Close it with `close()`. */
export class StunListener {
  readonly #socket: Socket;
  readonly counters: StunCounters = {
    success: 0n,
    notStun: 0n,
    readError: 0n,
    writeError: 0n,
    ipv4: 0n,
    ipv6: 0n,
    drops: new Map(),
  };
  #closed = false;

  private constructor(socket: Socket, policy: StunPolicy) {
    this.#socket = socket;
    socket.on('message', (msg, rinfo) => {
      const ip = parseIp(rinfo.address);
      if (!ip) {
        this.counters.readError++;
        return;
      }
      const r = answerBindingRequest(msg, { ip, port: rinfo.port }, policy);
      if (r.type === 'drop') {
        this.counters.notStun++;
        this.counters.drops.set(r.reason, (this.counters.drops.get(r.reason) ?? 0n) + 1n);
        return;
      }
      if (ip.length === 4) this.counters.ipv4++;
      else this.counters.ipv6++;
      socket.send(r.bytes, rinfo.port, rinfo.address, (err) => {
        if (err) this.counters.writeError++;
        else this.counters.success++;
      });
    });
    socket.on('error', () => {
      this.counters.readError++;
    });
  }

  /** Binds a listener and resolves once it is ready. */
  static async listen(opts: StunListenerOptions): Promise<StunListener> {
    const socket = createSocket({ type: opts.host.includes(':') ? 'udp6' : 'udp4', ipv6Only: false });
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => {
        socket.off('listening', onListening);
        socket.close();
        reject(e);
      };
      const onListening = (): void => {
        socket.off('error', onError);
        resolve();
      };
      socket.once('error', onError);
      socket.once('listening', onListening);
      socket.bind(opts.port ?? STUN_DEFAULT_PORT, opts.host);
    });
    const policy: StunPolicy = opts.requireTailnodeSoftware === undefined ? {} : { requireTailnodeSoftware: opts.requireTailnodeSoftware };
    return new StunListener(socket, policy);
  }

  /** The bound address and port. */
  address(): { readonly address: string; readonly port: number } {
    const a = this.#socket.address();
    return { address: a.address, port: a.port };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }
}
