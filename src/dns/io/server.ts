/**
 * UDP and TCP listeners for the forwarder (RFC 7766: TCP is mandatory). Wires sockets to the
 * sans-IO `Forwarder`, the upstream transports and the process Scheduler: every input is fed to
 * the core, its actions are carried out, and the scheduler is kicked so one timer tracks the
 * earliest query deadline. TCP: 2-byte framing with a bounded decoder, pipelined queries
 * answered out of order, an idle timeout, a cap on connections and on queries in flight per
 * connection (RFC 7766 §6.2).
 */
import net from 'node:net';
import type { Clock } from '../../runtime/clock.js';
import type { DeadlineSource, Scheduler } from '../../runtime/loop.js';
import type { Logger } from '../../runtime/log.js';
import type { Forwarder, ForwarderAction } from '../forwarder.js';
import { RateLimiter, type RateLimitOptions } from '../rate-limit.js';
import type { AccessDecision, ClientAccess } from '../access-control.js';
import { TcpFrameDecoder, frameMessage } from '../tcp-frame.js';
import { bindUdpListener, type UdpClient, type UdpListener, type UdpListenerStats } from './udp-listener.js';
import { UpstreamTransports, type UpstreamTransportOptions } from './upstream.js';

export interface ListenAddress {
  readonly host: string;
  /** 0 = an ephemeral port, shared by the UDP and TCP listener of this address. */
  readonly port: number;
}

/** Who asked: a UDP client (cached per source address and port, shared across its queries) or a TCP connection. */
export type ClientHandle = UdpClient | { readonly kind: 'tcp'; readonly conn: TcpClient };

export interface TcpClient {
  readonly sock: net.Socket;
  inflight: number;
}

export interface DnsServerOptions {
  readonly listen: readonly ListenAddress[];
  readonly forwarder: Forwarder<ClientHandle>;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly logger?: Logger | undefined;
  readonly upstream?: UpstreamTransportOptions;
  /** Close TCP connections idle this long (default 10 s; RFC 7766 §6.2.3 suggests seconds). */
  readonly tcpIdleMs?: number;
  readonly maxTcpConnections?: number;
  /** Queries in flight per TCP connection before reading pauses (default 32). */
  readonly maxTcpInflight?: number;
  /** Per-client-address token bucket; over-limit queries are dropped silently. Default: off. */
  readonly rateLimit?: RateLimitOptions | undefined;
  /** recvmmsg/sendmmsg batching on IPv4 UDP listeners (default true; false for A/B benchmarks). */
  readonly udpBatch?: boolean | undefined;
  /** Which clients are served, refused or ignored (access-control.ts). Default: everyone. */
  readonly access?: ClientAccess | undefined;
}

export interface DnsServer {
  /** Bound addresses, one per listen entry (UDP and TCP share the port). */
  readonly addresses: readonly ListenAddress[];
  /** Queries dropped by the per-client rate limit. */
  rateLimited(): bigint;
  /** Batched-path counters summed over the UDP listeners. */
  udpStats(): UdpListenerStats;
  /** Applies new access rules and rate limit to the next query (a reload; listeners stay). */
  reconfigure(next: { readonly access: ClientAccess | undefined; readonly rateLimit: RateLimitOptions | undefined }): void;
  close(): Promise<void>;
}

/** Binds every listener; rejects (after closing what was opened) when an address is unusable. */
export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  const { forwarder, scheduler, clock } = opts;
  const udpListeners: UdpListener[] = [];
  const tcpServers: net.Server[] = [];
  const tcpClients = new Set<TcpClient>();
  const maxInflight = opts.maxTcpInflight ?? 32;
  let closed = false;
  let limiter = opts.rateLimit ? new RateLimiter(opts.rateLimit) : undefined;
  let limiterKey = JSON.stringify(opts.rateLimit ?? null);
  let limitedBefore = 0n;
  let access = opts.access && !opts.access.open ? opts.access : undefined;
  // UDP client objects are cached per source address by the listener: remember their verdict.
  let udpVerdicts = new WeakMap<UdpClient, AccessDecision>();
  const udpVerdict = (c: UdpClient): AccessDecision => {
    let v = udpVerdicts.get(c);
    if (v === undefined) udpVerdicts.set(c, (v = access!.decide(c.address)));
    return v;
  };

  const dispatch = (actions: ForwarderAction<ClientHandle>[]): void => {
    if (closed) return;
    let moved = false;
    for (const a of actions) {
      if (a.type === 'respond') {
        const c = a.client;
        if (c.kind === 'udp') {
          c.sock.send(a.bytes, c);
        } else {
          c.conn.inflight--;
          if (!c.conn.sock.destroyed) {
            c.conn.sock.write(frameMessage(a.bytes));
            if (c.conn.inflight < maxInflight && c.conn.sock.isPaused()) c.conn.sock.resume();
          }
        }
      } else if (a.type === 'send') {
        moved = true;
        transports.send(a.token, a.upstream, a.transport, a.bytes);
      } else {
        moved = true;
        transports.cancel(a.token);
      }
    }
    // Deadlines only move when an upstream attempt starts or ends; an answer alone moves none.
    if (moved) scheduler.kick();
  };

  // The core never throws on input (fuzzed in tests); should a bug make it throw anyway, the
  // process (which also carries WireGuard and DERP) must survive: log, count, drop the packet.
  let internalErrors = 0n;
  const internalError = (err: unknown): void => {
    internalErrors++;
    opts.logger?.error({ err, internalErrors: internalErrors.toString() }, 'dns: internal error while handling a packet (dropped)');
  };
  const guarded = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      internalError(err);
    }
  };

  const transports = new UpstreamTransports(
    {
      reply: (token, source, bytes) => guarded(() => dispatch(forwarder.handleUpstreamReply(token, source, bytes, clock.monotonicMs()))),
      error: (token) => guarded(() => dispatch(forwarder.handleUpstreamError(token, clock.monotonicMs()))),
      unexpected: () => forwarder.noteUnexpectedReply(),
      // A burst of upstream replies: their client answers leave in one sendmmsg per listener.
      burst: (active) => {
        for (const u of udpListeners) {
          if (active) u.cork();
          else u.uncork();
        }
      },
    },
    opts.upstream,
  );
  const deadlines: DeadlineSource = {
    nextDeadline: () => forwarder.nextDeadline(),
    onDeadline: (now) => guarded(() => dispatch(forwarder.poll(now))),
  };
  scheduler.add(deadlines);

  const onTcpConnection = (sock: net.Socket): void => {
    if (tcpClients.size >= (opts.maxTcpConnections ?? 256)) {
      sock.destroy();
      return;
    }
    const verdict = access ? access.decide(sock.remoteAddress ?? '') : 'allow';
    if (verdict === 'drop') {
      sock.destroy();
      return;
    }
    const conn: TcpClient = { sock, inflight: 0 };
    const handle: ClientHandle = { kind: 'tcp', conn };
    tcpClients.add(conn);
    const decoder = new TcpFrameDecoder();
    sock.setNoDelay(true);
    sock.setTimeout(opts.tcpIdleMs ?? 10_000, () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      const r = decoder.push(chunk);
      if (!r.ok) {
        sock.destroy();
        return;
      }
      for (const m of r.messages) guarded(() => {
        if (limiter && !limiter.allow(sock.remoteAddress ?? '', clock.monotonicMs())) return;
        conn.inflight++;
        const droppedBefore = forwarder.stats.dropped;
        const actions = forwarder.handleQuery(m, handle, 'tcp', clock.monotonicMs(), verdict === 'refuse');
        // A query the core dropped gets no answer: do not count it against the connection.
        if (forwarder.stats.dropped !== droppedBefore) conn.inflight--;
        dispatch(actions);
      });
      if (conn.inflight >= maxInflight) sock.pause();
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => tcpClients.delete(conn));
  };

  const bound: ListenAddress[] = [];
  try {
    for (const addr of opts.listen) {
      let lastErr: unknown;
      for (let attempt = 0; attempt < 5; attempt++) {
        let listener: UdpListener | undefined;
        try {
          const udpListener = await bindUdpListener(addr.host, addr.port, { batch: opts.udpBatch ?? true });
          listener = udpListener;
          const udp = udpListener.sock;
          const port = udpListener.port;
          const tcp = net.createServer({ pauseOnConnect: false }, onTcpConnection);
          await new Promise<void>((resolve, reject) => {
            tcp.once('error', reject);
            tcp.listen({ host: addr.host, port, backlog: 128 }, () => {
              tcp.off('error', reject);
              resolve();
            });
          });
          // One clock read per wake-up: every datagram of a recvmmsg drain arrived at once.
          let nowMs = clock.monotonicMs();
          udpListener.receive({
            wake: () => {
              nowMs = clock.monotonicMs();
            },
            datagram: (bytes, client) => {
              const verdict = access ? udpVerdict(client) : 'allow';
              if (verdict === 'drop') return;
              if (limiter && !limiter.allow(client.address, nowMs)) return;
              try {
                dispatch(forwarder.handleQuery(bytes, client, 'udp', nowMs, verdict === 'refuse'));
              } catch (err) {
                internalError(err);
              }
            },
          });
          udp.on('error', (err) => opts.logger?.warn({ err }, 'dns: udp listener error'));
          tcp.on('error', (err) => opts.logger?.warn({ err }, 'dns: tcp listener error'));
          udpListeners.push(udpListener);
          tcpServers.push(tcp);
          bound.push({ host: addr.host, port });
          lastErr = undefined;
          break;
        } catch (err) {
          lastErr = err;
          listener?.close();
          // With port 0 the TCP port picked by UDP may be taken: try another; fixed ports fail now.
          if (addr.port !== 0) break;
        }
      }
      if (lastErr !== undefined) throw lastErr;
    }
  } catch (err) {
    await closeAll();
    throw err;
  }

  async function closeAll(): Promise<void> {
    closed = true;
    scheduler.remove(deadlines);
    transports.close();
    for (const c of tcpClients) c.sock.destroy();
    for (const u of udpListeners) u.close();
    await Promise.all(tcpServers.map((t) => new Promise<void>((r) => t.close(() => r()))));
  }

  const udpStats = (): UdpListenerStats => {
    const sum: UdpListenerStats = { recvmmsgDatagrams: 0n, recvmmsgCalls: 0n, sendmmsgDatagrams: 0n, sendmmsgCalls: 0n, truncated: 0n, recvErrors: 0n };
    for (const u of udpListeners) for (const k of Object.keys(sum) as (keyof UdpListenerStats)[]) sum[k] += u.stats[k];
    return sum;
  };
  const reconfigure: DnsServer['reconfigure'] = (next) => {
    access = next.access && !next.access.open ? next.access : undefined;
    udpVerdicts = new WeakMap();
    const key = JSON.stringify(next.rateLimit ?? null);
    if (key !== limiterKey) {
      limitedBefore += limiter?.limited ?? 0n;
      limiter = next.rateLimit ? new RateLimiter(next.rateLimit) : undefined;
      limiterKey = key;
    }
  };
  return { addresses: bound, rateLimited: () => limitedBefore + (limiter?.limited ?? 0n), udpStats, reconfigure, close: closeAll };
}
