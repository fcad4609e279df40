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
