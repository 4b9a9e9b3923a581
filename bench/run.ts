/**
 * `npm run bench [FILTER]`: runs every bench/**\/*.bench.ts whose path contains FILTER, one
 * process each (so one bench's JIT state and heap never colour another's), and passes its output
 * through. Macro benchmarks that need root or real peers live in bench/e2e/ and run only when
 * named explicitly (`npm run bench e2e`).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('.', import.meta.url).pathname;
const filter = process.argv[2] ?? '';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.bench.ts') ? [p] : [];
  });
}

const files = walk(root)
  .map((p) => relative(root, p))
  .filter((p) => (filter ? p.includes(filter) : !p.startsWith('e2e/')))
  .sort();
let failed = 0;
for (const f of files) {
  process.stdout.write(`\n## bench/${f}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, f)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
if (files.length === 0) process.stdout.write(`no benchmarks match '${filter}'\n`);
process.exit(failed === 0 ? 0 : 1);
