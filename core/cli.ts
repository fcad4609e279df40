import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * The CLI's shared shapes: a command is a `noun verb` path with a one-line summary and a run
 * function returning the exit code (0 ok, 1 failure, 2 usage). Later components register theirs
 * in bin/hydra.ts.
 */

export interface Command {
  /** e.g. ['node', 'start']. */
  path: string[];
  summary: string;
  usage?: string;
  run(args: string[]): Promise<number>;
}

/** A mistake in how the command was called: printed with the usage, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * node:util parseArgs, strict, with `--json` and `-h/--help` on every command; its errors turned
 * into one-line usage errors (exit 2). `positionals` names the required positional arguments.
 */
export function parseCommandArgs(args: string[], options: CommandOptions = {}, positionals: string[] = []): ParsedArgs {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs({ args, options: { ...options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: positionals.length > 0 }) as ParsedArgs;
  } catch (err) {
    const e = err as Error & { code?: string };
    const name = /'([^']+)'/.exec(e.message)?.[1];
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option '${name}'`);
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`unexpected argument '${name}'`);
    throw new UsageError(e.message);
  }
  if (parsed.values.help) return parsed;
  if (parsed.positionals.length < positionals.length) throw new UsageError(`missing ${positionals[parsed.positionals.length]}`);
  if (parsed.positionals.length > positionals.length) throw new UsageError(`unexpected argument '${parsed.positionals[positionals.length]}'`);
  return parsed;
}

/** Prints the usage for `--help`; true when the command should stop there. */
export function helpOr(p: ParsedArgs, usage: string): boolean {
  if (p.values.help) process.stdout.write(`usage: ${usage}\n`);
  return Boolean(p.values.help);
}
