/**
 * Loads blocklists from files and http(s) URLs and refreshes them on a schedule, keeping the
 * last good copy of each list when a refresh fails (I/O error, HTTP status, size cap, or a
 * "list" that suddenly has no rules, like an HTML error page served with 200).
 *
 * It is a `DeadlineSource` for the runtime Scheduler: each list has its own next-refresh time
 * (the configured interval after a success, a shorter retry after a failure). The policy holds
 * `blocklist` / `allowlist`, which are stable objects whose contents are swapped after each
 * successful change, so nothing else needs to know a refresh happened.
 *
 * Compiling runs in slices of 20k lines with a setImmediate yield between them, so a 1M-rule
 * list does not stall queries for seconds (bench/dns/blocklist.bench.ts has the parse times);
 * the old rules answer until the new set is complete.
 */
import { randomInt } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Clock, MonotonicMs } from '../../runtime/clock.js';
import type { DeadlineSource, Scheduler } from '../../runtime/loop.js';
import type { Logger } from '../../runtime/log.js';
import { compileFilter, compileFilterSliced, DomainMatcher, type BlocklistMatcher, type BlocklistParseStats, type CompiledFilter } from '../blocklist.js';
import type { BlocklistSourceConfig, DnsBlockingConfig } from '../config.js';
import type { DnsMetrics } from '../metrics.js';

/** After a failed load, try that list again after this long (or the refresh interval, if shorter). */
export const RETRY_AFTER_FAILURE_MS = 5 * 60_000;
/** A download that takes longer than this fails. */
export const DOWNLOAD_TIMEOUT_MS = 60_000;

/** The state of one list, for status output and tests. */
export interface BlocklistStatus {
  readonly name: string;
  /** Rules in the copy in use (0 if none was ever loaded). */
  readonly rules: number;
  readonly lastSuccessWallMs: number | undefined;
  /** Why the last attempt failed, if it did (no secrets: URLs and paths come from config). */
  readonly lastError: string | undefined;
  readonly stats: BlocklistParseStats | undefined;
}

interface ListState {
  readonly source: BlocklistSourceConfig;
  text: string | undefined;
  etag: string | undefined;
  lastModified: string | undefined;
  rules: number;
  lastSuccessWallMs: number | undefined;
  lastError: string | undefined;
  stats: BlocklistParseStats | undefined;
  nextAt: MonotonicMs;
}

/** A matcher whose rules can be replaced as a whole while holders keep the same object. */
class SwappableMatcher implements BlocklistMatcher {
  current: BlocklistMatcher = new DomainMatcher();
  match(qname: string): string | undefined {
    return this.current.match(qname);
  }
  get size(): number {
    return this.current.size;
  }
}

class LoadError extends Error {}

/** Blocklists from config, refreshed on the scheduler. */
export class BlocklistSource implements DeadlineSource {
  /** Block rules of every list's last good copy. Stable object; pass it to createPolicy. */
  readonly blocklist: BlocklistMatcher;
  /** The configured allowlist plus every list's `@@` exceptions. Stable object. */
  readonly allowlist: BlocklistMatcher;
  readonly #block = new SwappableMatcher();
  readonly #allow = new SwappableMatcher();
  readonly #config: DnsBlockingConfig;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #metrics: DnsMetrics | undefined;
  readonly #scheduler: Scheduler | undefined;
  readonly #lists: ListState[];
  #inFlight: Promise<void> | undefined;
  #closed = false;

  constructor(opts: { config: DnsBlockingConfig; clock: Clock; logger: Logger; metrics?: DnsMetrics; scheduler?: Scheduler }) {
    this.#config = opts.config;
    this.#clock = opts.clock;
    this.#logger = opts.logger.child({ component: 'dns-blocklists' });
    this.#metrics = opts.metrics;
    this.#scheduler = opts.scheduler;
    this.blocklist = this.#block;
    this.allowlist = this.#allow;
    const now = this.#clock.monotonicMs();
    this.#lists = opts.config.sources.map((source) => ({ source, text: undefined, etag: undefined, lastModified: undefined, rules: 0, lastSuccessWallMs: undefined, lastError: undefined, stats: undefined, nextAt: now }));
    this.#apply(this.#compile()); // the allowlist applies even before any list has loaded
  }

  /** Loads every list now and starts refreshing on the scheduler. Failures are logged, not thrown. */
  async start(): Promise<void> {
    await this.refreshDue(true);
    this.#scheduler?.add(this);
  }

  /** Stops refreshing (an in-flight download finishes but is not applied). */
  close(): void {
    this.#closed = true;
    this.#scheduler?.remove(this);
  }

  nextDeadline(): MonotonicMs | undefined {
    if (this.#closed || this.#inFlight !== undefined || this.#lists.length === 0) return undefined;
    return Math.min(...this.#lists.map((l) => l.nextAt));
  }

  onDeadline(_now: MonotonicMs): void {
    void this.refreshDue(false);
  }

  /** Loads the lists that are due (or all, with `all`); resolves when done. One refresh at a time. */
  refreshDue(all: boolean): Promise<void> {
    if (this.#inFlight) return this.#inFlight;
    const run = async (): Promise<void> => {
      const now = this.#clock.monotonicMs();
      const due = this.#lists.filter((l) => all || l.nextAt <= now);
      const fetched = await Promise.all(due.map(async (l) => [l, await this.#fetch(l)] as const));
      if (this.#closed) return;
      const candidates = fetched.filter(([l, text]) => text !== undefined && text !== l.text);
      const previous = new Map(candidates.map(([l]) => [l, l.text]));
      for (const [l, text] of candidates) l.text = text;
      for (const [l] of fetched) if (!previous.has(l) && l.lastError === undefined) this.#succeeded(l);
      if (candidates.length === 0) return;
      let compiled = await this.#compileSliced();
      if (this.#closed) return;
      // A new copy with no rules at all (an error page served with 200) fails; keep the old one.
      const empty = candidates.filter(([l]) => {
        const st = compiled.stats.get(l.source.name);
        return st !== undefined && st.lines > 0 && st.rules + st.exceptions + st.overLimit === 0;
      });
      for (const [l] of empty) {
        l.text = previous.get(l);
        this.#failed(l, `no rules in ${compiled.stats.get(l.source.name)!.lines} lines (not a blocklist?)`);
      }
      if (empty.length > 0) compiled = await this.#compileSliced();
      if (this.#closed) return;
      for (const [l] of candidates) if (!empty.some(([e]) => e === l)) this.#succeeded(l);
      this.#apply(compiled);
    };
    this.#inFlight = run()
      .catch((err: unknown) => this.#logger.error({ err }, 'blocklist refresh failed unexpectedly'))
      .finally(() => {
        this.#inFlight = undefined;
        this.#scheduler?.kick();
      });
    return this.#inFlight;
  }

  /** Per-list state. */
  status(): BlocklistStatus[] {
    return this.#lists.map((l) => ({ name: l.source.name, rules: l.rules, lastSuccessWallMs: l.lastSuccessWallMs, lastError: l.lastError, stats: l.stats }));
  }

  /** Fetches one list: its text, or undefined when unchanged (304) or failed (recorded on `l`). */
  async #fetch(l: ListState): Promise<string | undefined> {
    try {
      const fetched = l.source.kind === 'file' ? await this.#readListFile(l.source.path) : await this.#download(l);
      l.lastError = undefined;
      return fetched === 'not-modified' ? undefined : fetched;
    } catch (err) {
      this.#failed(l, err instanceof LoadError ? err.message : `${(err as { code?: string }).code ?? ''} ${err instanceof Error ? err.message : String(err)}`.trim());
      return undefined;
    }
  }

  #failed(l: ListState, reason: string): void {
    l.lastError = reason;
    l.nextAt = this.#clock.monotonicMs() + Math.min(this.#config.refreshMs, RETRY_AFTER_FAILURE_MS);
    this.#metrics?.blocklistLoaded(l.source.name, l.rules, false, this.#clock.wallTimeMs());
    this.#logger.warn({ list: l.source.name, error: reason, keptRules: l.rules }, l.text === undefined ? 'blocklist load failed' : 'blocklist refresh failed; keeping the last good copy');
  }

  #succeeded(l: ListState): void {
    l.lastError = undefined;
    l.lastSuccessWallMs = this.#clock.wallTimeMs();
    l.nextAt = this.#clock.monotonicMs() + this.#config.refreshMs;
    this.#metrics?.blocklistLoaded(l.source.name, l.rules, true, l.lastSuccessWallMs);
  }

  async #readListFile(path: string): Promise<string> {
    const st = await stat(path);
    if (st.size > this.#config.maxListBytes) throw new LoadError(`file is ${st.size} bytes, over the ${this.#config.maxListBytes}-byte cap`);
    const bytes = await readFile(path);
    if (bytes.length > this.#config.maxListBytes) throw new LoadError(`file grew past the ${this.#config.maxListBytes}-byte cap while reading`);
    return new TextDecoder('utf-8').decode(bytes);
  }

  /** GET with a size cap checked on Content-Length first, then while streaming; conditional on ETag/Last-Modified. */
  async #download(l: ListState): Promise<string | 'not-modified'> {
    const headers: Record<string, string> = { 'user-agent': 'tsplane-dns' };
    if (l.text !== undefined && l.etag) headers['if-none-match'] = l.etag;
    if (l.text !== undefined && l.lastModified) headers['if-modified-since'] = l.lastModified;
    const res = await fetch((l.source as { url: string }).url, { headers, redirect: 'follow', signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
    if (res.status === 304 && l.text !== undefined) {
      await res.body?.cancel();
      return 'not-modified';
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new LoadError(`HTTP ${res.status}`);
    }
    const cap = this.#config.maxListBytes;
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > cap) {
      await res.body?.cancel();
      throw new LoadError(`Content-Length ${declared} is over the ${cap}-byte cap`);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.length;
        if (total > cap) {
          await reader.cancel();
          throw new LoadError(`download passed the ${cap}-byte cap`);
        }
        chunks.push(value);
      }
    }
    const body = new Uint8Array(total);
    let o = 0;
    for (const c of chunks) {
      body.set(c, o);
      o += c.length;
    }
    l.etag = res.headers.get('etag') ?? undefined;
    l.lastModified = res.headers.get('last-modified') ?? undefined;
    return new TextDecoder('utf-8').decode(body);
  }

  #compile(): CompiledFilter {
    const texts = this.#lists.filter((l) => l.text !== undefined).map((l) => ({ name: l.source.name, text: l.text! }));
    return compileFilter(texts, this.#config.allowlist, { hashSeed: randomInt(2 ** 31) });
  }

  /** Compiles in slices, yielding to the event loop between them so queries keep flowing. */
  #compileSliced(): Promise<CompiledFilter> {
    const texts = this.#lists.filter((l) => l.text !== undefined).map((l) => ({ name: l.source.name, text: l.text! }));
    return compileFilterSliced(texts, this.#config.allowlist, { hashSeed: randomInt(2 ** 31), yieldNow: () => new Promise<void>((resolve) => setImmediate(resolve)) });
  }

  #apply(compiled: CompiledFilter): void {
    for (const l of this.#lists) {
      const s = compiled.stats.get(l.source.name);
      if (s === undefined) continue;
      l.stats = s;
      l.rules = s.rules;
      if (l.lastError === undefined) this.#metrics?.blocklistLoaded(l.source.name, s.rules, true, l.lastSuccessWallMs ?? this.#clock.wallTimeMs());
    }
    this.#block.current = compiled.block;
    this.#allow.current = compiled.allow;
    this.#logger.info({ rules: compiled.block.size, allow: compiled.allow.size }, 'blocklists compiled');
  }
}
