/**
 * Retries a database operation while PostgreSQL is unreachable, with backoff, instead of letting
 * the error reach the runtime: a thrown batch is retried only `maxDeliveries` times and then
 * dead-lettered, and a blast frame must not be lost to a database restart. Errors that retrying
 * cannot fix (a bad statement, a constraint) are rethrown at once.
 */
import { backoff } from '../../core/backoff.js';

/** Connection-level failures: the server is down, restarting, or refusing connections for now. */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    // SQLSTATE class 08 (connection exception), 57P01–57P03 (shutdown, cannot connect now), 53300 (too many connections).
    if (code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) return true;
  }
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message);
}

export interface RetryOptions {
  onRetry(err: unknown, attempt: number, retryInMs: number): void;
  minMs?: number;
  maxMs?: number;
}

export async function retryTransient<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err)) throw err;
      const delay = backoff(attempt - 1, { baseMs: o.minMs ?? 100, maxMs: o.maxMs ?? 5_000 });
      o.onRetry(err, attempt, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
