/**
 * Runs every vector suite in one process so the loader can tell which vectors/*.json files were
 * used; the last test fails when a file in vectors/ is loaded by no suite.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import './chacha20poly1305.suite.js';
import './xchacha20poly1305.suite.js';
import './x25519.suite.js';
import './blake2s.suite.js';
import './kdf.suite.js';
import './replay-window.suite.js';
import { loadedVectorFiles, shapeProblems, vectorFileNames, VECTORS_DIR } from './load.js';

describe('vectors/ folder', () => {
  it.each(vectorFileNames())('%s has source, url and cases that each have a name and a result', (f) => {
    expect(shapeProblems(JSON.parse(readFileSync(new URL(f, VECTORS_DIR), 'utf8')))).toEqual([]);
  });

  it('every vectors/*.json is loaded by some suite', () => {
    const unused = vectorFileNames().filter((f) => !loadedVectorFiles().has(f));
    expect(unused).toEqual([]);
  });

  it('vectors/README.md names every file', () => {
    const readme = readFileSync(new URL('README.md', VECTORS_DIR), 'utf8');
    expect(vectorFileNames().filter((f) => !readme.includes(f))).toEqual([]);
  });

  it('the shape check catches malformed files', () => {
    expect(shapeProblems({ source: 's', url: 'u', cases: [{ name: 'a', result: 'valid' }] })).toEqual([]);
    expect(shapeProblems({ url: 'u', cases: [{ name: 'a', result: 'valid' }] })).toEqual(['missing source']);
    expect(shapeProblems({ source: 's', url: 'u', cases: [{ name: 'a', result: 'ok' }] })).toHaveLength(1);
    expect(shapeProblems({ source: 's', url: 'u', cases: [{ result: 'valid' }] })).toHaveLength(1);
    expect(shapeProblems({ source: 's', url: 'u', cases: [] })).toEqual(['missing cases']);
    expect(shapeProblems([])).toEqual(['not a JSON object']);
  });
});
