/** The supervisor's error classes; each message names what was wrong and the bad value. */

/** An invalid child spec, supervisor spec or topology: names the field and the value. */
export class SpecError extends Error {
  override readonly name = 'SpecError';
  constructor(
    readonly field: string,
    readonly value: unknown,
    expected: string,
  ) {
    super(`${field}: ${JSON.stringify(value) ?? String(value)} is invalid; expected ${expected}`);
  }
}

/** A child that could not be started (failed, exited, or not ready in time). */
export class StartError extends Error {
  override readonly name = 'StartError';
  constructor(
    readonly childId: string,
    readonly reason: string,
  ) {
    super(`child '${childId}' failed to start: ${reason}`);
  }
}
