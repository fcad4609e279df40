/**
 * The one error a service's HTTP handler (or `req.json()`, or a function) throws on purpose:
 * the runtime answers it with this status and `{ error: message }` instead of a 500.
 */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
