/**
 * Prerequisites of tests that need root, network namespaces or real peers (wireguard-go,
 * unbound, dnsmasq, dnsperf, iperf3, …). On a developer machine a missing prerequisite skips
 * the suite; in CI (`CI=true`) it fails loudly, so nothing silently skips there.
 */
import { execFileSync } from 'node:child_process';

export const IN_CI = process.env.CI === 'true';

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function canUseNetns(): boolean {
  if (process.getuid?.() !== 0) return false;
  const name = `tsp-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export type Prerequisite = { command: string } | 'root' | 'netns' | 'tun';

/**
 * Returns the list of missing prerequisites. In CI a missing prerequisite throws, so the suite
 * fails instead of skipping. Use as `describe.skipIf(missing(...).length > 0)`.
 */
export function missing(...needs: Prerequisite[]): string[] {
  const absent: string[] = [];
  for (const need of needs) {
    if (need === 'root') {
      if (process.getuid?.() !== 0) absent.push('root');
    } else if (need === 'netns') {
      if (!canUseNetns()) absent.push('network namespaces (ip netns, as root)');
    } else if (need === 'tun') {
      if (!hasCommand('ip') || process.getuid?.() !== 0) absent.push('/dev/net/tun as root');
    } else if (!hasCommand(need.command)) {
      absent.push(need.command);
    }
  }
  if (absent.length > 0 && IN_CI) {
    throw new Error(`CI=true but test prerequisites are missing: ${absent.join(', ')} (install them in .ci/run)`);
  }
  return absent;
}
