/**
 * A parsed upstream resolver as the forwarder and the io/ edge use it: transport (UDP with TCP
 * retry, TCP, DoT RFC 7858, DoH RFC 8484), address, and the canonical id that health tracking,
 * logs and metrics key on. Built from the YAML config by forwarder-config.ts `upstreamSpecFrom`.
 */

export type UpstreamTransport = 'udp' | 'tcp' | 'tls' | 'https';

export interface UpstreamSpec {
  /** Canonical text, used as the identity in health tracking, logs and metrics. */
  readonly id: string;
  /** 'udp' means UDP with TCP retry on truncation; the others never use UDP. */
  readonly transport: UpstreamTransport;
  /** IP literal (udp/tcp), or host name/IP (tls/https). IPv6 in RFC 5952 form, no brackets. */
  readonly host: string;
  readonly port: number;
  /** DoH path (with query), e.g. `/dns-query`. */
  readonly path: string;
  readonly family: 4 | 6 | 0;
  /** TLS server name to send and verify (tls/https); defaults to `host` when it is a name. */
  readonly serverName?: string | undefined;
  /** PEM CA bundle to verify this upstream against (tls/https). */
  readonly caFile?: string | undefined;
  /** The address as the user wrote it, for logs and metrics. */
  readonly label?: string | undefined;
}
