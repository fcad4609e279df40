/**
 * The channel layer's error classes. Each message says what was wrong and what to do,
 * so a caller can print it as it is.
 */

/** A message that cannot be published or delivered as it is (bad field, unserialisable body). */
export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
  constructor(
    /** The offending field, e.g. `type`, `v`, `body.items[2].voltage`. */
    readonly field: string,
    reason: string,
  ) {
    super(`envelope field '${field}': ${reason}`);
  }
}

/** A transport-level failure or a misuse of a channel (bad option, closed channel). */
export class ChannelError extends Error {
  override readonly name = 'ChannelError';
  constructor(
    readonly channel: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`channel '${channel}': ${message}`, options);
  }
}

/** No chain of upcasters leads from the version written to the version a consumer wants. */
export class UpcastError extends Error {
  override readonly name = 'UpcastError';
  constructor(
    readonly type: string,
    readonly from: number,
    readonly to: number,
    reason: string,
  ) {
    super(`cannot convert ${type}@${from} to ${type}@${to}: ${reason}`);
  }
}
