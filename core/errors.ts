/** The errors every layer shares, and the one place a thrown value becomes a one-line reason. */

/** An environment variable that is missing or malformed. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/**
 * Any thrown value as one line with its class: `TypeError: x is not a function`. For logs,
 * dead-letter entries and start failures, where the class says which layer failed.
 */
export function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return nonErrorText(err);
  const text = textOf(err);
  return text ? `${err.name}: ${text}` : err.name;
}

/**
 * Any thrown value as one line without its class. For text written for people and stored or
 * shown as it is (a release's or a job run's error, a CLI line), where errors are typed and
 * their messages already say what was wrong.
 */
export function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return nonErrorText(err);
  return textOf(err) || err.name;
}

// An AggregateError (both ::1 and 127.0.0.1 refused) has an empty message but a code.
function textOf(err: Error): string {
  return err.message || (err as { code?: string }).code || '';
}

function nonErrorText(err: unknown): string {
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
