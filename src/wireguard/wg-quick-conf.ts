/**
 * wg-quick `.conf` files (wg-quick(8), wg(8) CONFIGURATION FILE FORMAT) → plain sections of
 * key/value text with line numbers. Pure: text in, a typed result out; never throws.
 *
 * The rules follow wg-quick and wg's config.c: `#` starts a comment anywhere on a line, section
 * headers and keys match case-insensitively (`[interface]`, `privatekey`), whitespace around
 * keys and values is ignored, repeated `Address`, `DNS` and `AllowedIPs` lines accumulate and
 * their values are comma-separated lists. One extension, read from a comment so wg-quick still
 * accepts the file: `# Name = laptop` inside a `[Peer]` names that peer (MagicDNS names).
 * Typing (keys, prefixes, endpoints) is left to the schema (src/config-wireguard.ts) so its
 * errors can name the file, line and key in one place.
 */

/** Files larger than this are refused (a config with thousands of peers is still far below). */
export const MAX_WG_QUICK_CONF_BYTES = 1024 * 1024;

/** Keys wg-quick and wg accept in `[Interface]`, in canonical spelling. */
export const WG_QUICK_INTERFACE_KEYS = [
  'PrivateKey', 'ListenPort', 'FwMark', 'Address', 'DNS', 'MTU', 'Table',
  'PreUp', 'PostUp', 'PreDown', 'PostDown', 'SaveConfig',
] as const;
/** Keys wg accepts in `[Peer]`, in canonical spelling. */
export const WG_QUICK_PEER_KEYS = ['PublicKey', 'PresharedKey', 'AllowedIPs', 'Endpoint', 'PersistentKeepalive'] as const;

export type WgQuickInterfaceKey = (typeof WG_QUICK_INTERFACE_KEYS)[number];
export type WgQuickPeerKey = (typeof WG_QUICK_PEER_KEYS)[number];

/** One `Key = value` line: the value text (comments and outer whitespace removed) and its 1-based line. */
export interface WgQuickValue {
  readonly value: string;
  readonly line: number;
}

export interface WgQuickSection<K extends string> {
  /** Line of the `[…]` header. */
  readonly line: number;
  /** Values per key; keys that may repeat (Address, DNS, AllowedIPs) keep every line. */
  readonly values: ReadonlyMap<K, readonly WgQuickValue[]>;
}

export interface WgQuickPeerSection extends WgQuickSection<WgQuickPeerKey> {
  /** From a `# Name = …` comment, if any. */
  readonly name?: WgQuickValue;
}

export interface WgQuickConf {
  readonly iface: WgQuickSection<WgQuickInterfaceKey>;
  readonly peers: readonly WgQuickPeerSection[];
}

export type WgQuickParseResult =
  | { readonly ok: true; readonly conf: WgQuickConf }
  | { readonly ok: false; readonly line: number | undefined; readonly key: string; readonly problem: string };

const REPEATABLE = new Set(['Address', 'DNS', 'AllowedIPs', 'PreUp', 'PostUp', 'PreDown', 'PostDown']);

/** Parses the text of a wg-quick `.conf` file. */
export function parseWgQuickConf(text: string): WgQuickParseResult {
  if (text.length > MAX_WG_QUICK_CONF_BYTES) return { ok: false, line: undefined, key: '(file)', problem: 'larger than 1 MiB' };
  let iface: { line: number; values: Map<WgQuickInterfaceKey, WgQuickValue[]> } | undefined;
  const peers: { line: number; values: Map<WgQuickPeerKey, WgQuickValue[]>; name?: WgQuickValue }[] = [];
  let current: 'none' | 'interface' | 'peer' = 'none';
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!;
    const hash = raw.indexOf('#');
    if (hash >= 0 && current === 'peer') {
      const m = /^#\s*name\s*=\s*(.*?)\s*$/i.exec(raw.slice(hash).trim());
      if (m && m[1] !== '' && raw.slice(0, hash).trim() === '') peers[peers.length - 1]!.name = { value: m[1]!, line: lineNo };
    }
    const stripped = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (stripped === '') continue;
    if (stripped.startsWith('[')) {
      const header = stripped.toLowerCase();
      if (header === '[interface]') {
        if (iface) return { ok: false, line: lineNo, key: '[Interface]', problem: `a second [Interface] section (the first is on line ${iface.line})` };
        iface = { line: lineNo, values: new Map() };
        current = 'interface';
      } else if (header === '[peer]') {
        peers.push({ line: lineNo, values: new Map() });
        current = 'peer';
      } else {
        return { ok: false, line: lineNo, key: stripped.slice(0, 40), problem: 'unknown section (want [Interface] or [Peer])' };
      }
      continue;
    }
    const eq = stripped.indexOf('=');
    if (eq <= 0) return { ok: false, line: lineNo, key: stripped.slice(0, 40), problem: 'not a Key = Value line' };
    const keyText = stripped.slice(0, eq).trim();
    const value = stripped.slice(eq + 1).trim();
    if (current === 'none') return { ok: false, line: lineNo, key: keyText, problem: 'comes before any [Interface] or [Peer] section' };
    const where = current === 'interface' ? '[Interface]' : `[Peer] (line ${peers[peers.length - 1]!.line})`;
    const allowed: readonly string[] = current === 'interface' ? WG_QUICK_INTERFACE_KEYS : WG_QUICK_PEER_KEYS;
    const key = allowed.find((k) => k.toLowerCase() === keyText.toLowerCase());
    if (key === undefined) return { ok: false, line: lineNo, key: keyText, problem: `unknown key in ${where} (allowed: ${allowed.join(', ')})` };
    const values: Map<string, WgQuickValue[]> = current === 'interface' ? iface!.values : peers[peers.length - 1]!.values;
    const list = values.get(key);
    if (list && !REPEATABLE.has(key)) return { ok: false, line: lineNo, key, problem: `given twice in ${where} (first on line ${list[0]!.line})` };
    if (list) list.push({ value, line: lineNo });
    else values.set(key, [{ value, line: lineNo }]);
  }
  if (!iface) return { ok: false, line: undefined, key: '[Interface]', problem: 'missing [Interface] section' };
  return { ok: true, conf: { iface, peers } };
}

/** Splits a comma-separated list value (`10.0.0.1/32, fd00::1/128`) into its items. */
export function splitList(values: readonly WgQuickValue[] | undefined): WgQuickValue[] {
  const out: WgQuickValue[] = [];
  for (const v of values ?? []) {
    for (const item of v.value.split(',')) {
      const t = item.trim();
      if (t !== '') out.push({ value: t, line: v.line });
    }
  }
  return out;
}
