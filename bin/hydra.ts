/**
 * `hydra`: the one CLI entry. Finds the command by its `noun verb` path and runs it; prints
 * help and the version; unknown commands and options are usage errors (exit 2).
 */
import { readFileSync } from 'node:fs';
import { consumerCommands } from '../channels/cli/consumerCommands.js';
import { deadLetterCommands } from '../channels/cli/deadLetterCommands.js';
import { nginxCommands } from '../node/nginxCommands.js';
import { pgbouncerCommands } from '../pgbouncer/cli.js';
import { dbCommands } from '../scheduler/cli/dbCommands.js';
import { schedulerCommands } from '../scheduler/cli/schedulerCommands.js';
import { tokenCommands } from '../scheduler/cli/tokenCommands.js';
import { simulateCommands } from '../services/simulator/cli.js';
import { deployCommands } from '../deploy/cli.js';
import { nodeCommands } from '../node/cli.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type Command } from '../core/cli.js';

/** Registered commands; components add theirs as they land (node, scheduler, deploy, simulate…). */
const commands: Command[] = [...nodeCommands, ...dbCommands, ...schedulerCommands, ...tokenCommands, ...nginxCommands, ...pgbouncerCommands, ...deployCommands, ...simulateCommands, ...deadLetterCommands, ...consumerCommands];

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function help(): string {
  const width = Math.max(0, ...commands.map((c) => c.path.join(' ').length));
  const lines = commands.map((c) => `  hydra ${c.path.join(' ').padEnd(width)}  ${c.summary}`);
  return [
    'hydra — supervised dataflow for fleets of edge data-collection nodes',
    '',
    'Usage: hydra <command> [options]',
    '',
    'Commands:',
    ...(lines.length > 0 ? lines : ['  (none yet: node, scheduler, deploy and simulate arrive with their components)']),
    '',
    'Options:',
    '  -h, --help       show this help',
    '  -V, --version    print the version',
    '',
    'Every read command takes --json. Exit codes: 0 ok, 1 failure, 2 bad usage.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    process.stdout.write(`${help()}\n`);
    return first === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (first === '-V' || first === '--version') {
    process.stdout.write(`hydra ${version()}\n`);
    return EXIT_OK;
  }
  const command = commands.find((c) => c.path.every((part, i) => argv[i] === part));
  if (!command) {
    process.stderr.write(`hydra: unknown command '${argv.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ') || first}'; run 'hydra --help' for the list\n`);
    return EXIT_USAGE;
  }
  try {
    return await command.run(argv.slice(command.path.length));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`hydra ${command.path.join(' ')}: ${err.message}\n${command.usage ? `usage: ${command.usage}\n` : ''}`);
      return EXIT_USAGE;
    }
    process.stderr.write(`hydra ${command.path.join(' ')}: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILURE;
  }
}
