/**
 * The one loader for vectors/*.json. It checks each file's common shape (source, url, cases
 * with name and result) and records which files were loaded, so vectors.test.ts can fail when
 * a file in vectors/ is not exercised by any suite.
 */
import { readFileSync, readdirSync } from 'node:fs';

export const VECTORS_DIR = new URL('../../vectors/', import.meta.url);

export type VectorResult = 'valid' | 'invalid';

export interface VectorCase {
  readonly name: string;
  readonly result: VectorResult;
}

export interface VectorFile<C extends VectorCase> {
  readonly source: string;
  readonly url: string;
  readonly license?: string;
  readonly cases: readonly C[];
  readonly [extra: string]: unknown;
}

const loaded = new Set<string>();

/** Every *.json file in vectors/, sorted. */
export function vectorFileNames(): string[] {
  return readdirSync(VECTORS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
}

/** Names of the files loaded so far in this process. */
export function loadedVectorFiles(): ReadonlySet<string> {
  return loaded;
}

/** Problems with a parsed file's common shape; empty when it is well formed. */
export function shapeProblems(doc: unknown): string[] {
  const problems: string[] = [];
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return ['not a JSON object'];
  const d = doc as Record<string, unknown>;
  for (const key of ['source', 'url'] as const) {
    if (typeof d[key] !== 'string' || (d[key] as string).length === 0) problems.push(`missing ${key}`);
  }
  if (d.license !== undefined && typeof d.license !== 'string') problems.push('license is not a string');
  if (!Array.isArray(d.cases) || d.cases.length === 0) return [...problems, 'missing cases'];
  const names = new Set<string>();
  d.cases.forEach((c: unknown, i: number) => {
    const cc = (typeof c === 'object' && c !== null ? c : {}) as Record<string, unknown>;
    if (typeof cc.name !== 'string' || cc.name.length === 0) problems.push(`case ${i}: missing name`);
    else if (names.has(cc.name)) problems.push(`case ${i}: duplicate name ${cc.name}`);
    else names.add(cc.name);
    if (cc.result !== 'valid' && cc.result !== 'invalid') problems.push(`case ${i}: result must be valid or invalid`);
  });
  return problems;
}

/** Reads, checks and records vectors/`file`. Throws (failing the suite) on a malformed file. */
export function loadVectors<C extends VectorCase>(file: string): VectorFile<C> {
  const doc: unknown = JSON.parse(readFileSync(new URL(file, VECTORS_DIR), 'utf8'));
  const problems = shapeProblems(doc);
  if (problems.length > 0) throw new Error(`vectors/${file}: ${problems.join('; ')}`);
  loaded.add(file);
  return doc as VectorFile<C>;
}

/** Strict hex decoding: a typo in a vector file must fail loudly, not decode to something else. */
export function hex(s: string | undefined, what = 'hex field'): Uint8Array {
  if (s === undefined || s.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(s)) throw new Error(`bad ${what}: ${String(s)}`);
  return Uint8Array.from(Buffer.from(s, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/**
 * A copy of `bytes` placed at `offset` inside a larger buffer with guard bytes around it, to
 * test unaligned views. `intact()` reports whether the whole backing buffer is unchanged.
 */
export function unaligned(bytes: Uint8Array, offset: number): { view: Uint8Array; intact(): boolean } {
  const backing = new Uint8Array(offset + bytes.length + 5).fill(0xa5);
  backing.set(bytes, offset);
  const snapshot = backing.slice();
  return {
    view: backing.subarray(offset, offset + bytes.length),
    intact: () => backing.every((v, i) => v === snapshot[i]),
  };
}
