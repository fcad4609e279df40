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
