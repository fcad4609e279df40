/**
 * Write-behind with group commit. `handle` applies a batch to memory at once (queries and
 * subscribers see it immediately), hands its rows here and awaits the flush that carries them;
 * only then does the runtime acknowledge the batch. So nothing acknowledged is lost on a crash:
 * what was applied but not yet written is still pending in the stream and is delivered again.
 * The price is a bounded lag between memory and PostgreSQL, and between apply and ack: at most
 * one flush interval plus the write.
 *
 * A flush writes everything pending in one upsert, one flush at a time. It starts when
 * `maxRows` rows wait, `intervalMs` after the first row arrived, or as soon as `idle()` says
 * no handler is still applying: then every writer is waiting for this flush and waiting longer
 * could only add latency (with one consumer per channel, that is every batch). Rows are kept
 * per item, latest wins, so a hot item costs one row per flush. A failed write is retried with
 * backoff, without end: the handlers keep waiting (nothing is acknowledged) while memory keeps
 * serving queries; the supervisor's shutdown timeout bounds a stop that cannot flush.
 */
import { backoff } from '../../core/backoff.js';
import type { Superseded } from './itemStore.js';
import type { ItemState } from './selector.js';

export interface WriteBehindOptions {
  /**
   * Writes one flush's rows (one per item) and the changes its batch superseded (see itemStore
   * `writeFlush`) atomically; throws to be retried.
   */
  write(rows: ItemState[], superseded: Superseded[]): Promise<void>;
  /** Longest wait from the first pending row to its flush. Default 50 ms. */
  intervalMs?: number;
  /** Rows that start a flush at once. Default 500. */
  maxRows?: number;
  /** True when no handler is about to add rows, so a flush should not wait. Default: never idle. */
  idle?: () => boolean;
  /** First retry delay, doubled per failure up to maxBackoffMs. Defaults 100 ms and 5 s. */
  backoffMs?: number;
  maxBackoffMs?: number;
  onFlush?(rows: number, ms: number): void;
  onError?(err: unknown, attempt: number, retryInMs: number): void;
}

interface Waiter {
  promise: Promise<void>;
  resolve(): void;
}

export class WriteBehind {
  private pending = new Map<string, ItemState>();
  private superseded: Superseded[] = [];
  /** Resolved when the flush that takes the current `pending` has committed. */
  private waiter: Waiter | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private inFlight = 0;
  private failingSinceMs: number | null = null;
  private readonly intervalMs: number;
  private readonly maxRows: number;

  constructor(private readonly options: WriteBehindOptions) {
    this.intervalMs = options.intervalMs ?? 50;
    this.maxRows = options.maxRows ?? 500;
  }

  /**
   * Queues `rows` (and the changes their batch superseded, written with them); resolves once a
   * flush has written them (at once when there are no rows).
   */
  write(rows: readonly ItemState[], superseded: readonly Superseded[] = []): Promise<void> {
    // Nothing new to write: a batch of only stale updates may be acknowledged at once.
    if (rows.length === 0) return Promise.resolve();
    for (const r of rows) this.pending.set(`${r.site}:${r.device}:${r.item}`, r);
    this.superseded.push(...superseded);
    const waiter = (this.waiter ??= makeWaiter());
    this.schedule(); // may start the flush at once, which takes over `this.waiter`
    return waiter.promise;
  }

  /** Rows applied in memory and not yet written (waiting, or in the flush under way). */
  get lag(): number {
    return this.pending.size + this.inFlight;
  }

  /** Since when writes have been failing (epoch ms), or null while they succeed. */
  get failingSince(): number | null {
    return this.failingSinceMs;
  }

  /** Writes what is pending and waits for it (the stop hook: handlers have finished by then). */
  async drain(): Promise<void> {
    while (this.running || this.pending.size > 0) {
      if (!this.running) this.flush();
      await this.running;
    }
  }

  private schedule(): void {
    if (this.running) return; // the flush in progress schedules the next when it ends
    if (this.pending.size >= this.maxRows || (this.options.idle?.() ?? false)) return this.flush();
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.running || this.pending.size === 0) return;
    const rows = [...this.pending.values()];
    const superseded = this.superseded;
    const waiter = this.waiter!;
    this.pending = new Map();
    this.superseded = [];
    this.waiter = null;
    this.inFlight = rows.length;
    this.running = this.writeUntilDone(rows, superseded).then(() => {
      this.inFlight = 0;
      waiter.resolve();
      this.running = null;
      if (this.pending.size > 0) this.schedule();
    });
  }

  private async writeUntilDone(rows: ItemState[], superseded: Superseded[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      try {
        await this.options.write(rows, superseded);
        this.failingSinceMs = null;
        this.options.onFlush?.(rows.length, Date.now() - started);
        return;
      } catch (err) {
        this.failingSinceMs ??= started;
        const delay = backoff(attempt - 1, { baseMs: this.options.backoffMs ?? 100, maxMs: this.options.maxBackoffMs ?? 5_000 });
        this.options.onError?.(err, attempt, delay);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}

function makeWaiter(): Waiter {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
