#!/usr/bin/env node
/**
 * `tsplane` command line: dispatches to the service subcommands.
 */
import { argv, exit, stderr, stdout } from 'node:process';

const USAGE = `usage: tsplane <command> [options]

commands:
  run [CONFIG]     run WireGuard, DERP and DNS from one YAML file on one event loop
                   (no CONFIG: the embedded examples/tsplane.yaml)
  check CONFIG     validate a config file without starting anything
  derp [flags]     run a DERP relay (+ STUN); also: derp map, derp check URL
  dns [flags]      run the split-DNS forwarder
  version          print the version (also --version)
  help             show this text

The userspace WireGuard daemon is a separate command: tsplane-wg [-f] INTERFACE
`;

export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    case 'version':
    case '--version':
      stdout.write((await import('./version.js')).versionText('tsplane', 'WireGuard, DERP and split-DNS data plane'));
      return 0;
    case 'derp': return (await import('./derp.js')).runDerp(rest);
    case 'dns': return (await import('./dns.js')).dnsCommand(rest);
    case 'run': return (await import('./run.js')).runCommand(rest);
    case 'check': return (await import('./run.js')).checkCommand(rest);
    default:
      stderr.write(`tsplane: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

main(argv.slice(2)).then(
  (code) => {
    if (code !== 0) exit(code);
  },
  (err: unknown) => {
    stderr.write(`tsplane: ${err instanceof Error ? err.message : String(err)}\n`);
    exit(1);
  },
);
