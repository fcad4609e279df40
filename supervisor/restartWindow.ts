/**
 * Restart intensity, as OTP counts it: a sliding window of restart times. More than
 * `intensity` restarts within `periodMs` means the supervisor gives up and fails to its parent
 * (OTP supervisor.erl add_restart/1: "restarts within the period, newest first").
 */
import { backoff } from '../core/backoff.js';
export class RestartWindow {
  private times: number[] = [];

  constructor(
    private readonly intensity: number,
    private readonly periodMs: number,
  ) {}

  /** Records a restart; false when it takes the supervisor over its intensity. */
  add(now = Date.now()): boolean {
    this.times = [now, ...this.times.filter((t) => now - t < this.periodMs)];
    return this.times.length <= this.intensity;
  }

  /** Restarts inside the window right now. */
  count(now = Date.now()): number {
    return this.times.filter((t) => now - t < this.periodMs).length;
  }
}

/**
 * Backoff for a flapping child: the first restart is immediate (as OTP), each further failure
 * in a row doubles the wait up to a ceiling, so a crash loop never spins a core. A child that
 * stayed up `resetMs` is no longer flapping and starts over.
 */
export function backoffDelay(failuresInARow: number, initialMs: number, maxMs: number): number {
  if (failuresInARow <= 1) return 0;
  // No jitter: one supervisor restarts its own child, and the schedule is documented and tested.
  return backoff(failuresInARow - 2, { baseMs: initialMs, maxMs });
}
