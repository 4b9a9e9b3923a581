/**
 * The version both commands print (`tsplane --version`, `tsplane-wg --version`, as
 * `wireguard-go --version` does): read from the package.json this file ships in.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { arch, platform, version as nodeVersion } from 'node:process';
import { fileURLToPath } from 'node:url';

/** The package version, or `unknown` when package.json cannot be found (never throws). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        const v = (JSON.parse(readFileSync(p, 'utf8')) as { name?: unknown; version?: unknown });
        if (v.name === 'tsplane' && typeof v.version === 'string') return v.version;
      } catch {
        return 'unknown';
      }
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** The `--version` text of `command`. */
export function versionText(command: string, what: string): string {
  return `${command} v${packageVersion()}\n\n${what} for ${platform}-${arch} (Node.js ${nodeVersion}).\n`;
}
