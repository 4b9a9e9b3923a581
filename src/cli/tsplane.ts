#!/usr/bin/env node
/**
 * `tsplane` command line: dispatches to the service subcommands.
 */
import { argv, exit, stderr, stdout } from 'node:process';

const USAGE = `usage: tsplane <command> [options]

commands:
  run [CONFIG]     run the services of a config file (default: the embedded examples/tsplane.yaml)
  help             show this text
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
    case 'derp': return (await import('./derp.js')).runDerp(rest);
    case 'dns': return (await import('./dns.js')).dnsCommand(rest);
    case 'run': return (await import('./run.js')).runCommand(rest);
    case 'check': return (await import('./run.js')).checkCommand(rest);
    default:
      void rest;
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
