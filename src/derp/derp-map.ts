/**
 * DERP map JSON for one self-hosted region with one node (derp.md §5, tailcfg/derpmap.go): the
 * object a control server (e.g. Headscale's `derp.paths` file) hands to clients. Field names are
 * Go's; zero values are omitted as Go's `omitempty` does (STUNPort 0 means 3478, DERPPort 0
 * means 443).
 */

export interface DerpMapOptions {
  /** 900–999 are reserved for users' own DERP servers; any 1..2^53−1 is accepted. */
  regionId: number;
  regionCode: string;
  regionName?: string;
  /** DNS name clients dial and verify (TLS SNI). */
  hostName: string;
  /** Node name; default `<regionId>a`. */
  nodeName?: string;
  stunPort?: number;
  derpPort?: number;
  ipv4?: string;
  ipv6?: string;
  certName?: string;
  canPort80?: boolean;
  omitDefaultRegions?: boolean;
}

export type DerpMapResult = { ok: true; map: Record<string, unknown> } | { ok: false; problem: string };

function validPort(n: number | undefined, allowMinusOne: boolean): boolean {
  return n === undefined || (Number.isInteger(n) && ((n >= 0 && n <= 65535) || (allowMinusOne && n === -1)));
}

export function buildDerpMap(o: Partial<DerpMapOptions>): DerpMapResult {
  if (o.regionId === undefined || !Number.isSafeInteger(o.regionId) || o.regionId <= 0) return { ok: false, problem: '--region-id: want an integer > 0 (900–999 for your own relays)' };
  if (!o.regionCode) return { ok: false, problem: '--region-code is required' };
  if (!o.hostName) return { ok: false, problem: '--hostname is required' };
  if (!validPort(o.stunPort, true)) return { ok: false, problem: '--stun-port: want 0–65535, or -1 to disable STUN' };
  if (!validPort(o.derpPort, false)) return { ok: false, problem: '--derp-port: want 0–65535' };
  const node: Record<string, unknown> = { Name: o.nodeName ?? `${o.regionId}a`, RegionID: o.regionId, HostName: o.hostName };
  if (o.certName) node.CertName = o.certName;
  if (o.ipv4) node.IPv4 = o.ipv4;
  if (o.ipv6) node.IPv6 = o.ipv6;
  if (o.stunPort) node.STUNPort = o.stunPort;
  if (o.derpPort) node.DERPPort = o.derpPort;
  if (o.canPort80) node.CanPort80 = true;
  const region: Record<string, unknown> = {
    RegionID: o.regionId,
    RegionCode: o.regionCode,
    RegionName: o.regionName ?? o.regionCode,
    Nodes: [node],
  };
  const map: Record<string, unknown> = { Regions: { [String(o.regionId)]: region } };
  if (o.omitDefaultRegions) map.omitDefaultRegions = true;
  return { ok: true, map };
}

/**
 * The same map as YAML for Headscale's `derp.paths` files. Headscale reads those with a Go YAML
 * decoder, which matches Go field names lower-cased (`regionid`, `hostname`, `stunport`, …) and
 * needs the region IDs as integer keys — the JSON field names would be silently ignored there.
 * Strings are written as double-quoted scalars (JSON string syntax is valid YAML).
 */
export function formatDerpMapYaml(map: Record<string, unknown>): string {
  const lines = ['# DERP map for Headscale derp.paths (tsplane derp map --format yaml)'];
  const scalar = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));
  const regions = (map.Regions ?? {}) as Record<string, Record<string, unknown>>;
  if (map.omitDefaultRegions === true) lines.push('omitdefaultregions: true');
  lines.push('regions:');
  for (const [id, region] of Object.entries(regions)) {
    lines.push(`  ${Number(id)}:`);
    for (const [k, v] of Object.entries(region)) {
      if (k !== 'Nodes') {
        lines.push(`    ${k.toLowerCase()}: ${scalar(v)}`);
        continue;
      }
      lines.push('    nodes:');
      for (const node of v as Record<string, unknown>[]) {
        let first = true;
        for (const [nk, nv] of Object.entries(node)) {
          lines.push(`${first ? '      - ' : '        '}${nk.toLowerCase()}: ${scalar(nv)}`);
          first = false;
        }
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
