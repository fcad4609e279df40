/**
 * The one exponential backoff: the delay before retry number `attempt` (0 for the first retry)
 * is baseMs doubled per attempt, capped at maxMs, then optionally jittered. Every retry loop in
 * Hydra asks this function instead of doubling a delay of its own, so the curve is the same
 * everywhere and a jitter policy is one option away.
 *
 * Jitter (as in "Exponential Backoff And Jitter", AWS Architecture Blog):
 *   - 'none'  : exactly the capped exponential; for loops where only one party retries and tests
 *               or operators rely on the exact schedule (the supervisor's restarts).
 *   - 'full'  : uniform in [0, delay]; the widest spread for many clients of one server.
 *   - 'equal' : delay/2 plus uniform in [0, delay/2]; spread out but never much shorter.
 */
export type Jitter = 'none' | 'full' | 'equal';

export interface BackoffOptions {
  /** The delay of attempt 0, in ms. */
  baseMs: number;
  /** No delay exceeds this, in ms. */
  maxMs: number;
  /** Default 'none'. */
  jitter?: Jitter;
  /** A number in [0, 1); Math.random unless a test fixes it. */
  random?: () => number;
}

export class BackoffOptionError extends Error {
  override readonly name = 'BackoffOptionError';
}

export function backoff(attempt: number, o: BackoffOptions): number {
  if (!Number.isInteger(attempt) || attempt < 0) throw new BackoffOptionError(`attempt: ${attempt} is invalid; expected a whole number of at least 0`);
  if (!(o.baseMs >= 0) || !(o.maxMs >= 0)) throw new BackoffOptionError(`baseMs ${o.baseMs} / maxMs ${o.maxMs} are invalid; expected numbers of at least 0`);
  // 2 ** attempt overflows to Infinity past 1023: Math.min still caps it, but 0 * Infinity is NaN.
  const delay = o.baseMs === 0 ? 0 : Math.min(o.maxMs, o.baseMs * 2 ** attempt);
  const random = o.random ?? Math.random;
  switch (o.jitter ?? 'none') {
    case 'none':
      return delay;
    case 'full':
      return random() * delay;
    case 'equal':
      return delay / 2 + random() * (delay / 2);
  }
}
