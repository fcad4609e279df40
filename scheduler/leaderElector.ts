/**
 * LeaderElector: keeps trying to hold one lease; renews it at about half the lease time while
 * it leads; emits `elected` (with the Lease: its epoch is the fencing token) and `deposed` (with
 * the reason). Its loop never throws: a failed query is emitted as `error` (logged instead when
 * nobody listens, since an unheard EventEmitter 'error' would throw) and retried with backoff.
 *
 * It also deposes itself by the local clock: leadership is believed only until (time the last
 * successful acquire/renew was *sent*) + ttl, which is never later than the database's expiry
 * (the database's now() is taken after the request left). So a leader cut off from the
 * database, or stuck in a hanging query, stops acting before anyone else can take over.
 */
import { backoff } from '../core/backoff.js';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { createLogger, type Logger } from '../core/log.js';
import { release, renew, tryAcquire, type Fence, type Lease } from './lease.js';
import type { Db } from '../core/pgTransaction.js';

export interface LeaderElectorOptions {
  db: Db;
  /** Lease name, e.g. 'scheduler'. */
  name: string;
  /** Who we are; default `<host>:<pid>`. Must be unique among candidates. */
  holder?: string;
  /** Lease time in ms (default 10 000). */
  ttlMs?: number;
  /** Renewal period while leading; default ttl/2. */
  renewEveryMs?: number;
  /** How often a standby tries to take the lease; default ttl/4. */
  retryEveryMs?: number;
  log?: Logger;
}

export interface LeaderElectorEvents {
  elected: [lease: Lease];
  deposed: [reason: string];
  error: [err: Error];
}

export class LeaderElector extends EventEmitter<LeaderElectorEvents> {
  readonly name: string;
  readonly holder: string;
  readonly ttlMs: number;
  private readonly db: Db;
  private readonly renewEveryMs: number;
  private readonly retryEveryMs: number;
  private readonly log: Logger;
  private lease: Lease | null = null;
  /** performance.now() after which we no longer believe we lead. */
  private believedUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private running = false;
  private failures = 0;
  private inFlight: Promise<void> | undefined;

  constructor(options: LeaderElectorOptions) {
    super();
    this.db = options.db;
    this.name = options.name;
    this.holder = options.holder ?? `${hostname()}:${process.pid}`;
    this.ttlMs = options.ttlMs ?? 10_000;
    this.renewEveryMs = options.renewEveryMs ?? Math.floor(this.ttlMs / 2);
    this.retryEveryMs = options.retryEveryMs ?? Math.floor(this.ttlMs / 4);
    this.log = options.log ?? createLogger({ component: 'scheduler', lease: this.name, holder: this.holder });
    if (this.renewEveryMs >= this.ttlMs) throw new RangeError(`renewEveryMs: ${this.renewEveryMs} is invalid; expected less than ttlMs (${this.ttlMs})`);
  }

  /** The fencing token to carry into writes while leading; null when not leading. */
  get fence(): Fence | null {
    return this.isLeader ? { name: this.lease!.name, holder: this.lease!.holder, epoch: this.lease!.epoch } : null;
  }

  get isLeader(): boolean {
    return this.lease !== null && performance.now() < this.believedUntil;
  }

  start(): this {
    if (this.running) return this;
    this.running = true;
    this.schedule(0);
    return this;
  }

  /**
   * Stops campaigning. By default gives the lease up so a standby takes over at once;
   * `release: false` leaves it to expire (what a crash looks like to the others).
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.inFlight;
    const fence = this.fence;
    if (fence && options.release !== false) {
      await release(this.db, fence).catch((err: unknown) => this.fail(err));
    }
    clearTimeout(this.deadlineTimer);
    if (this.lease) this.depose('stopped');
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.inFlight = this.tick().finally(() => (this.inFlight = undefined));
    }, delayMs);
  }

  private async tick(): Promise<void> {
    const sentAt = performance.now();
    if (this.lease && !this.isLeader) this.depose('lease time ran out without a successful renewal');
    try {
      const held = this.fence;
      const lease = held ? await renew(this.db, held, this.ttlMs) : await tryAcquire(this.db, this.name, this.holder, this.ttlMs);
      this.failures = 0;
      if (!this.running) {
        // stop() raced this tick: do not start leading now; stop() releases what we hold.
        if (lease) {
          this.lease = lease;
          this.believedUntil = sentAt + this.ttlMs;
        }
        return;
      }
      if (lease) {
        const fresh = !held;
        this.lease = lease;
        this.believedUntil = sentAt + this.ttlMs;
        this.armDeadline();
        if (fresh) {
          this.log.info('elected', { epoch: lease.epoch });
          this.emit('elected', lease);
        }
        this.schedule(this.renewEveryMs);
      } else {
        if (held) this.depose('lease lost (taken over or expired before renewal)');
        else if (this.lease) this.depose('lease expired before it could be renewed');
        this.schedule(this.retryEveryMs);
      }
    } catch (err) {
      this.failures++;
      this.fail(err);
      if (this.lease && !this.isLeader) this.depose('lease time ran out while the database was unreachable');
      // Back off, but a leader retries well inside its remaining lease time.
      const delay = backoff(this.failures - 1, { baseMs: this.retryEveryMs, maxMs: this.ttlMs });
      const cap = this.isLeader ? Math.max(50, (this.believedUntil - performance.now()) / 3) : delay;
      this.schedule(Math.min(delay, cap));
    }
  }

  /** Deposes by the local clock when no renewal succeeded in time (e.g. a hanging query). */
  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => {
      if (this.lease && !this.isLeader) this.depose('lease time ran out without a successful renewal');
    }, Math.max(0, this.believedUntil - performance.now()) + 1);
    this.deadlineTimer.unref();
  }

  private depose(reason: string): void {
    const epoch = this.lease?.epoch;
    this.lease = null;
    this.believedUntil = 0;
    clearTimeout(this.deadlineTimer);
    this.log.warn('deposed', { epoch, reason });
    this.emit('deposed', reason);
  }

  private fail(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    if (this.listenerCount('error') > 0) this.emit('error', e);
    else this.log.error('lease query failed', { err: e });
  }
}
