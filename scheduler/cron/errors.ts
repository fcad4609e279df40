/** The cron jobs' error classes; each message says what was wrong and what to do about it. */

/** A field of a job definition is invalid; names the field and the bad value. Nothing was stored. */
export class JobDefinitionError extends Error {
  override readonly name = 'JobDefinitionError';
  constructor(
    readonly field: string,
    readonly value: unknown,
    expected: string,
  ) {
    super(`job ${field}: ${JSON.stringify(value) ?? String(value)} is invalid; expected ${expected}; nothing was stored`);
  }
}

/** No job of this name in the jobs table. */
export class JobNotFoundError extends Error {
  override readonly name = 'JobNotFoundError';
  constructor(readonly job: string) {
    super(`unknown job '${job}'; see 'hydra scheduler jobs' for the defined jobs`);
  }
}

/**
 * One run of a job failed: the command exited non-zero or timed out, or the service function
 * could not be reached or answered an error. Recorded as the run's error; the schedule goes on.
 */
export class JobRunError extends Error {
  override readonly name = 'JobRunError';
  constructor(
    message: string,
    readonly detail: { exitCode?: number; timedOut?: boolean; status?: number } = {},
  ) {
    super(message);
  }
}
