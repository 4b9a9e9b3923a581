/**
 * Blocklist parsing and matching (pure). Lists are untrusted text from files and URLs: every
 * line is length-capped, unsupported syntax is counted and skipped (never an error), and the
 * parser never throws.
 *
 * Accepted line forms (auto-detected per line, so mixed lists work):
 *   hosts       `0.0.0.0 ads.example tracker.example`, `127.0.0.1 x`, `:: x`  → exact names
 *   domains     `ads.example`                                                → exact name
 *   wildcard    `*.ads.example`                                              → subdomains only
 *   adblock     `||ads.example^`, `||ads.example^$important`, `|ads.example^` → name + subdomains
 *               `@@||ads.example^` (exception → allowlist)                   → name + subdomains
 *   dnsmasq     `address=/ads.example/0.0.0.0`, `address=/ads.example/`      → name + subdomains
 *   comments    `# …`, `! …`, `[Adblock Plus 2.0]`, blank lines
 * Counted as unsupported: regex rules (`/…/`), cosmetic rules (`##`), URL rules, rules with
 * modifiers other than `$important` (`$client`, `$dnstype`, `$denyallow`, `$badfilter`, …).
 * (`$important` is accepted as a plain block rule; the configured allowlist still wins.)
 *
 * Rules land in a DomainMatcher (domain-matcher.ts), which matches by label suffix.
 */
import { DomainMatcher, MATCH_SCOPE, type BlocklistMatcher, type MatchScope } from './domain-matcher.js';

export { DEFAULT_MAX_RULES, DomainMatcher, MATCH_SCOPE } from './domain-matcher.js';
export type { BlocklistMatcher, MatchScope } from './domain-matcher.js';


/** Lines longer than this are skipped (counted as `tooLong`); real rules are far shorter. */
export const MAX_RULE_LINE_CHARS = 1024;
/** Domain names longer than this (RFC 1035 §2.3.4: 253 characters in text form) are invalid. */
const MAX_NAME_CHARS = 253;

/** What a parse saw, per category. Counts are numbers: one list never has 2^53 lines. */
export interface BlocklistParseStats {
  lines: number;
  rules: number;
  exceptions: number;
  comments: number;
  unsupported: number;
  invalid: number;
  tooLong: number;
  overLimit: number;
}

/** Called once per accepted rule; `exception` rules (`@@`) belong on the allowlist. */
export type RuleSink = (name: string, scope: MatchScope, exception: boolean) => boolean;

/** Sink result: `false` means "full", which the parser counts as `overLimit`. */
function emptyStats(): BlocklistParseStats {
  return { lines: 0, rules: 0, exceptions: 0, comments: 0, unsupported: 0, invalid: 0, tooLong: 0, overLimit: 0 };
}

const NAME_RE = /^(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}$/;
const IPV4_RE = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const IPV6_RE = /^[0-9a-f:.]*:[0-9a-f:.]*$/i;
/** hosts-file names that are the file's own boilerplate, never something to block. */
const HOSTS_BOILERPLATE = new Set(['localhost', 'localhost.localdomain', 'local', 'broadcasthost', 'ip6-localhost',
  'ip6-loopback', 'ip6-localnet', 'ip6-mcastprefix', 'ip6-allnodes', 'ip6-allrouters', 'ip6-allhosts', '0.0.0.0']);

/** Lower-cases, strips one trailing dot; undefined when not a plausible DNS name. */
export function normalizeDomain(raw: string): string | undefined {
  let s = raw.toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1);
  if (s.length === 0 || s.length > MAX_NAME_CHARS || !NAME_RE.test(s)) return undefined;
  return s;
}

/** How one line was classified; rules are handed to the sink as they are found (no per-line arrays). */
type LineKind = 'comment' | 'unsupported' | 'invalid' | 'rule' | 'exception' | 'full';

/** Emits one rule; maps the sink's "full" answer to the line kind. */
function emit(sink: RuleSink, name: string, scope: MatchScope, exception: boolean): LineKind {
  if (!sink(name, scope, exception)) return 'full';
  return exception ? 'exception' : 'rule';
}

/** Classifies one trimmed, non-empty, length-checked line and emits its rules. */
function parseLine(line: string, sink: RuleSink): LineKind {
  const c = line.charCodeAt(0);
  // '#' comment, '!' adblock comment, '[' adblock header
  if (c === 0x23 || c === 0x21 || c === 0x5b) return 'comment';
  if (line.indexOf('#') >= 0) {
    if (line.includes('##') || line.includes('#@#') || line.includes('#?#') || line.includes('#$#')) return 'unsupported'; // cosmetic
    const hash = line.search(/\s#/); // inline comment: whitespace then '#'
    if (hash >= 0) line = line.slice(0, hash).trimEnd();
  }
  if (c === 0x40 /* '@' */ && line.startsWith('@@')) return parseAdblock(line.slice(2), true, sink);
  if (c === 0x7c /* '|' */) return parseAdblock(line, false, sink);
  if (c === 0x2f /* '/' */) return 'unsupported'; // regex rule
  if (line.startsWith('address=/') || line.startsWith('server=/')) return parseDnsmasq(line, sink);
  const space = line.search(/\s/);
  if (space < 0) {
    if (line.startsWith('*.')) {
      const name = normalizeDomain(line.slice(2));
      return name ? emit(sink, name, MATCH_SCOPE.SUBDOMAINS, false) : 'invalid';
    }
    if (/[/^$|*]/.test(line)) return 'unsupported';
    const name = normalizeDomain(line);
    return name ? emit(sink, name, MATCH_SCOPE.EXACT, false) : 'invalid';
  }
  // hosts line: an address, then one or more names.
  const tokens = line.split(/\s+/);
  const addr = tokens[0]!;
  if (!IPV4_RE.test(addr) && !IPV6_RE.test(addr)) return 'invalid';
  let kind: LineKind = 'comment'; // only boilerplate names
  for (let i = 1; i < tokens.length; i++) {
    const name = normalizeDomain(tokens[i]!);
    if (name === undefined) return kind === 'comment' ? 'invalid' : kind;
    if (HOSTS_BOILERPLATE.has(name)) continue;
    const k = emit(sink, name, MATCH_SCOPE.EXACT, false);
    if (kind !== 'full') kind = k;
  }
  return kind;
}

/** `||name^`, `|name^`, `||*.name^`, with an optional `$important`. */
function parseAdblock(rule: string, exception: boolean, sink: RuleSink): LineKind {
  let body = rule;
  const dollar = body.indexOf('$');
  if (dollar >= 0) {
    const mods = body.slice(dollar + 1).split(',');
    if (!mods.every((m) => m === 'important')) return 'unsupported';
    body = body.slice(0, dollar);
  }
  let scope: MatchScope = MATCH_SCOPE.NAME_AND_SUBDOMAINS;
  if (body.startsWith('||')) body = body.slice(2);
  else if (body.startsWith('|')) {
    body = body.slice(1);
    scope = MATCH_SCOPE.EXACT; // `|name^` anchors at the start of the name
  } else return 'unsupported';
  if (body.endsWith('|')) body = body.slice(0, -1);
  if (!body.endsWith('^')) return 'unsupported'; // `||name` alone is a substring match in adblock
  body = body.slice(0, -1);
  if (body.startsWith('*.')) {
    body = body.slice(2);
    scope = MATCH_SCOPE.SUBDOMAINS;
  }
  if (/[*/^|:]/.test(body)) return 'unsupported';
  const name = normalizeDomain(body);
  return name ? emit(sink, name, scope, exception) : 'invalid';
}

/** dnsmasq `address=/a/b/0.0.0.0` (block a, b and below); `server=/a/` lines are not blocks. */
function parseDnsmasq(line: string, sink: RuleSink): LineKind {
  if (line.startsWith('server=')) return 'unsupported';
  const parts = line.slice('address=/'.length).split('/');
  const names = parts.slice(0, -1).map(normalizeDomain);
  if (names.length === 0 || names.some((n) => n === undefined)) return 'invalid';
  let kind: LineKind = 'rule';
  for (const n of names) if (emit(sink, n!, MATCH_SCOPE.NAME_AND_SUBDOMAINS, false) === 'full') kind = 'full';
  return kind;
}

/**
 * Parses list text line by line, feeding accepted rules to `sink`. Never throws; every line is
 * counted in exactly one of comments/rules/exceptions/unsupported/invalid/tooLong/overLimit.
 */
export function parseBlocklist(text: string, sink: RuleSink): BlocklistParseStats {
  const stats = emptyStats();
  parseBlocklistLines(text, sink, stats, 0, Number.POSITIVE_INFINITY);
  return stats;
}

/**
 * Parses at most `maxLines` lines of `text` starting at offset `from`, adding to `stats`;
 * returns the offset to continue from (`text.length` when done). Lets callers parse big lists
 * in slices without blocking the event loop.
 */
export function parseBlocklistLines(text: string, sink: RuleSink, stats: BlocklistParseStats, from: number, maxLines: number): number {
  let start = from;
  for (let n = 0; n < maxLines && start < text.length; n++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    stats.lines++;
    if (end - start > MAX_RULE_LINE_CHARS) {
      stats.tooLong++;
      start = end + 1;
      continue;
    }
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '') {
      stats.comments++;
      continue;
    }
    switch (parseLine(line, sink)) {
      case 'comment': stats.comments++; break;
      case 'unsupported': stats.unsupported++; break;
      case 'invalid': stats.invalid++; break;
      case 'rule': stats.rules++; break;
      case 'exception': stats.exceptions++; break;
      case 'full': stats.overLimit++; break;
    }
  }
  return Math.min(start, text.length);
}

/** One list's text with the name it is reported under (its path or URL, or a config label). */
export interface BlocklistText {
  readonly name: string;
  readonly text: string;
}

/** The result of compiling lists: block rules, the allowlist (config entries + `@@` exceptions), per-list stats. */
export interface CompiledFilter {
  readonly block: BlocklistMatcher;
  readonly allow: BlocklistMatcher;
  readonly stats: ReadonlyMap<string, BlocklistParseStats>;
}

/** The source name reported when the configured allowlist (not a list's `@@` rule) matches. */
export const CONFIG_ALLOWLIST_SOURCE = 'config:allowlist';

/**
 * Compiles blocklists plus allowlist entries (same line syntax as lists: `name` exact,
 * `*.name` subdomains, `||name^` both) into matchers.
 */
export function compileFilter(lists: readonly BlocklistText[], allowlist: readonly string[] = [], opts: { maxRules?: number; hashSeed?: number } = {}): CompiledFilter {
  const c = new FilterCompiler(lists, allowlist, opts);
  while (!c.step(Number.POSITIVE_INFINITY));
  return c.result();
}

/** Lines parsed between yields by `compileFilterSliced`. */
export const DEFAULT_LINES_PER_SLICE = 20_000;

/**
 * `compileFilter` in slices of `linesPerSlice` lines, awaiting `yieldNow()` between slices so
 * the event loop keeps answering queries while a big list compiles (the io edge passes a
 * setImmediate-based yield; the core never schedules anything itself).
 */
export async function compileFilterSliced(
  lists: readonly BlocklistText[],
  allowlist: readonly string[],
  opts: { maxRules?: number; hashSeed?: number; linesPerSlice?: number; yieldNow: () => Promise<void> },
): Promise<CompiledFilter> {
  const c = new FilterCompiler(lists, allowlist, opts);
  while (!c.step(opts.linesPerSlice ?? DEFAULT_LINES_PER_SLICE)) await opts.yieldNow();
  return c.result();
}

/** Resumable compilation: lists in order, then the configured allowlist. */
class FilterCompiler {
  readonly #block: DomainMatcher;
  readonly #allow: DomainMatcher;
  readonly #stats = new Map<string, BlocklistParseStats>();
  readonly #inputs: BlocklistText[];
  #index = 0;
  #offset = 0;

  constructor(lists: readonly BlocklistText[], allowlist: readonly string[], opts: { maxRules?: number; hashSeed?: number }) {
    this.#block = new DomainMatcher(opts);
    this.#allow = new DomainMatcher(opts);
    this.#inputs = [...lists, { name: CONFIG_ALLOWLIST_SOURCE, text: allowlist.join('\n') }];
  }

  /** Parses up to `maxLines` lines; returns true when everything is done. */
  step(maxLines: number): boolean {
    let budget = maxLines;
    while (this.#index < this.#inputs.length && budget > 0) {
      const input = this.#inputs[this.#index]!;
      const isAllowlist = this.#index === this.#inputs.length - 1;
      let stats = this.#stats.get(input.name);
      if (stats === undefined) this.#stats.set(input.name, (stats = emptyStats()));
      const before = stats.lines;
      const sink: RuleSink = isAllowlist
        ? (name, scope) => this.#allow.add(name, scope, CONFIG_ALLOWLIST_SOURCE)
        : (name, scope, exception) => (exception ? this.#allow : this.#block).add(name, scope, input.name);
      this.#offset = parseBlocklistLines(input.text, sink, stats, this.#offset, budget);
      budget -= stats.lines - before;
      if (this.#offset >= input.text.length) {
        this.#index++;
        this.#offset = 0;
      }
    }
    return this.#index >= this.#inputs.length;
  }

  result(): CompiledFilter {
    return { block: this.#block, allow: this.#allow, stats: this.#stats };
  }
}
