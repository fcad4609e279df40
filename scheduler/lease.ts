/**
 * Leader leases: one row per lease name with a holder, an expiry and an epoch (fencing token).
 * Every comparison uses the database clock (now()), never the caller's: schedulers on different
 * machines disagree about time, the database is the one clock they share. No session advisory
 * lock and no LISTEN: each call is a single statement or one transaction, so it works through
 * PgBouncer in transaction pooling (docs/architecture.md, "Traps": leadership).
 *
 * The epoch only grows (the row is never deleted), so a write fenced with an old epoch is
 * refused for ever, even after the old holder wins the lease back.
 */
import type pg from 'pg';
import { FencingError } from './errors.js';
import { inTransaction, type Db } from '../core/pgTransaction.js';

/** What a leader carries into every write it makes as leader. */
export interface Fence {
  name: string;
  holder: string;
  epoch: number;
}

export interface Lease extends Fence {
  /** Expiry on the database clock. */
  expiresAt: Date;
  /** Time left as the database sees it at the moment of the statement, in ms. */
  remainingMs: number;
}

interface LeaseRow {
  name: string;
  holder: string;
  epoch: string;
  expires_at: Date;
  remaining_ms: number;
}

const RETURNING = `RETURNING name, holder, epoch, expires_at,
  (extract(epoch FROM expires_at - now()) * 1000)::float8 AS remaining_ms`;

function toLease(row: LeaseRow | undefined): Lease | null {
  if (!row) return null;
  return { name: row.name, holder: row.holder, epoch: Number(row.epoch), expiresAt: row.expires_at, remainingMs: row.remaining_ms };
}

function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 100) throw new RangeError(`ttlMs: ${ttlMs} is invalid; expected an integer of at least 100 ms`);
}

/**
 * Takes the lease when it is free or expired (epoch + 1), or extends it when `holder` already
 * holds it unexpired (same epoch). Returns null when someone else holds it. Two callers racing
 * for an expired lease: the loser's ON CONFLICT re-checks the WHERE against the winner's row
 * (READ COMMITTED), sees it unexpired and held by another, and gets no row.
 */
export async function tryAcquire(db: Db, name: string, holder: string, ttlMs: number): Promise<Lease | null> {
  checkTtl(ttlMs);
  const r = await db.query<LeaseRow>(
    `INSERT INTO leases AS l (name, holder, epoch, acquired_at, renewed_at, expires_at)
     VALUES ($1, $2, 1, now(), now(), now() + $3 * interval '1 millisecond')
     ON CONFLICT (name) DO UPDATE SET
       epoch       = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now() THEN l.epoch ELSE l.epoch + 1 END,
       acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now() THEN l.acquired_at ELSE now() END,
       holder      = EXCLUDED.holder,
       renewed_at  = now(),
       expires_at  = EXCLUDED.expires_at
     WHERE l.expires_at <= now() OR l.holder = EXCLUDED.holder
     ${RETURNING}`,
    [name, holder, ttlMs],
  );
  return toLease(r.rows[0]);
}

/**
 * Extends the lease if `fence` still holds it unexpired; null when it was lost. An expired
 * lease is not renewed even if nobody took it: the holder must acquire again (new epoch), so
 * nothing it decided before the gap can pass the fence.
 */
export async function renew(db: Db, fence: Fence, ttlMs: number): Promise<Lease | null> {
  checkTtl(ttlMs);
  const r = await db.query<LeaseRow>(
    `UPDATE leases SET renewed_at = now(), expires_at = now() + $4 * interval '1 millisecond'
     WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()
     ${RETURNING}`,
    [fence.name, fence.holder, fence.epoch, ttlMs],
  );
  return toLease(r.rows[0]);
}

/** Gives the lease up at once (expires it; the row and epoch stay) so a standby takes over now. */
export async function release(db: Db, fence: Fence): Promise<boolean> {
  const r = await db.query(
    'UPDATE leases SET expires_at = now() WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()',
    [fence.name, fence.holder, fence.epoch],
  );
  return (r.rowCount ?? 0) > 0;
}

/** The current row of a lease (for status displays and tests); null when never taken. */
export async function readLease(db: Db, name: string): Promise<Lease | null> {
  const r = await db.query<LeaseRow>(
    `SELECT name, holder, epoch, expires_at, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS remaining_ms
     FROM leases WHERE name = $1`,
    [name],
  );
  return toLease(r.rows[0]);
}

/**
 * Checks the fence inside the caller's open transaction and holds a FOR SHARE lock on the lease
 * row until that transaction ends: a takeover (an UPDATE of the row) waits for the fenced write
 * to commit, so an old leader's write can never land after a new leader has started acting.
 */
export async function assertFence(client: pg.ClientBase, fence: Fence): Promise<void> {
  const r = await client.query(
    'SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now() FOR SHARE',
    [fence.name, fence.holder, fence.epoch],
  );
  if (r.rowCount !== 1) throw new FencingError(fence.name, fence.holder, fence.epoch);
}

/**
 * Runs fn in one transaction that commits only if `fence` is current; FencingError otherwise.
 * `db` is a pool or an idle client; inside a transaction of your own call assertFence instead.
 */
export async function withFence<T>(db: Db, fence: Fence, fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  return inTransaction(db, async (client) => {
    await assertFence(client, fence);
    return fn(client);
  });
}
