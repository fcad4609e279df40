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
    /** The child's own stack for the failure, when it sent one (not this error's stack). */
    readonly childStack?: string,
  ) {
    super(`child '${childId}' failed to start: ${reason}`);
  }
}

/** OTP's `{error, not_found}`: no child with this id under the supervisor the call reached. */
export class NoSuchChild extends Error {
  override readonly name = 'NoSuchChild';
  constructor(
    readonly childId: string,
    readonly supervisor: string,
    detail = '',
  ) {
    super(`no child '${childId}' under supervisor '${supervisor}'${detail}`);
  }
}

/**
 * OTP's `{error, running}` / `{error, restarting}`: the call needs a child that is not running,
 * and this one runs or waits out its restart backoff. Terminate it first.
 */
export class ChildRunning extends Error {
  override readonly name = 'ChildRunning';
  constructor(
    readonly childId: string,
    readonly supervisor: string,
    readonly state: 'running' | 'restarting',
  ) {
    super(`child '${childId}' under supervisor '${supervisor}' is ${state === 'running' ? 'running' : 'restarting (waiting out its backoff)'}; terminate it first`);
  }
}
