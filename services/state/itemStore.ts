/**
 * The state service's SQL, on its own table `item_state` (schema.sql): create it, read it all
 * back at start, and upsert a flush's rows in ONE statement. The upsert passes one array per
 * column through `unnest`, so a flush of any size is 13 parameters (a VALUES list would hit
 * PostgreSQL's 65 535-parameter limit near 6 000 rows), and it only overwrites an older row
 * (`WHERE item_state.seq < EXCLUDED.seq`), so replays and out-of-order flushes are idempotent in
 * the database as they are in memory.
 */
import type pg from 'pg';
import { ensureSchema as ensureTables } from '../ensureSchema.js';
import { inTransaction, type Db } from '../../core/pgTransaction.js';
import type { ItemStatus, StateChangeV1 } from '../messages.js';
import type { ItemState, ValueField } from './selector.js';

const SCHEMA = new URL('./schema.sql', import.meta.url);

/** Creates this service's tables if missing. */
export function ensureSchema(pool: pg.Pool): Promise<void> {
  return ensureTables(pool, SCHEMA);
}

interface Row {
  site: string;
  device: string;
  item: string;
  seq: string;
  device_ts: string;
  status: string;
  fault_code: number;
  voltage: number;
  resistance: number;
  delay_ms: string;
  updated_at: Date;
  source_id: string;
  changed: string[];
}

/** Every row, as live-state records (bigint columns come back as strings: all fit a double). */
export async function loadItems(pool: pg.Pool): Promise<ItemState[]> {
  const { rows } = await pool.query<Row>('SELECT site, device, item, seq, device_ts, status, fault_code, voltage, resistance, delay_ms, updated_at, source_id, changed FROM item_state');
  return rows.map((r) => ({
    site: Number(r.site),
    device: Number(r.device),
    item: Number(r.item),
    seq: Number(r.seq),
    deviceTs: Number(r.device_ts),
    status: r.status as ItemStatus,
    faultCode: r.fault_code,
    voltage: r.voltage,
    resistance: r.resistance,
    delayMs: Number(r.delay_ms),
    updatedAt: r.updated_at.getTime(),
    source: r.source_id,
    changed: r.changed as ValueField[],
  }));
}

const UPSERT = `
INSERT INTO item_state (site, device, item, seq, device_ts, status, fault_code, voltage, resistance, delay_ms, updated_at, source_id, changed)
SELECT u.site, u.device, u.item, u.seq, u.device_ts, u.status, u.fault_code, u.voltage, u.resistance, u.delay_ms,
       to_timestamp(u.updated_ms / 1000.0), u.source_id, string_to_array(u.changed, ',')
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::int[],
            $8::float8[], $9::float8[], $10::bigint[], $11::float8[], $12::text[], $13::text[])
  AS u(site, device, item, seq, device_ts, status, fault_code, voltage, resistance, delay_ms, updated_ms, source_id, changed)
ON CONFLICT (site, device, item) DO UPDATE SET
  seq = EXCLUDED.seq, device_ts = EXCLUDED.device_ts, status = EXCLUDED.status, fault_code = EXCLUDED.fault_code,
  voltage = EXCLUDED.voltage, resistance = EXCLUDED.resistance, delay_ms = EXCLUDED.delay_ms,
  updated_at = EXCLUDED.updated_at, source_id = EXCLUDED.source_id, changed = EXCLUDED.changed
WHERE item_state.seq < EXCLUDED.seq`;

/** A state change a later update of its item overwrote within one flush, with the entry that made it. */
export interface Superseded {
  source: string;
  change: StateChangeV1;
}

/** item_state_superseded: the overwritten changes of the last flushed batch, by source entry id, in order. */
export async function loadSuperseded(pool: pg.Pool): Promise<Map<string, StateChangeV1[]>> {
  const { rows } = await pool.query<{ source_id: string; change: StateChangeV1 }>('SELECT source_id, change FROM item_state_superseded ORDER BY ord');
  return bySource(rows.map((r) => ({ source: r.source_id, change: r.change })));
}

export function bySource(list: readonly Superseded[]): Map<string, StateChangeV1[]> {
  const map = new Map<string, StateChangeV1[]>();
  for (const { source, change } of list) map.set(source, [...(map.get(source) ?? []), change]);
  return map;
}

/**
 * One flush: the rows, and (when `replace`, or when there are any) item_state_superseded
 * replaced by `superseded`, in one transaction. Without superseded changes to write or clear it
 * is the single upsert statement.
 */
export async function writeFlush(pool: pg.Pool, rows: readonly ItemState[], superseded: readonly Superseded[], replace: boolean): Promise<void> {
  if (!replace && superseded.length === 0) return upsertItems(pool, rows);
  await inTransaction(pool, async (client) => {
    await upsertItems(client, rows);
    await client.query('DELETE FROM item_state_superseded');
    if (superseded.length > 0) {
      await client.query('INSERT INTO item_state_superseded (source_id, ord, change) SELECT * FROM unnest($1::text[], $2::int[], $3::jsonb[])', [
        superseded.map((s) => s.source),
        superseded.map((_, i) => i),
        superseded.map((s) => JSON.stringify(s.change)),
      ]);
    }
  });
}

/**
 * Writes `rows` in one statement (one implicit transaction: all or none). The caller passes at
 * most one row per item; ON CONFLICT cannot touch the same row twice in one statement.
 */
export async function upsertItems(pool: Db, rows: readonly ItemState[]): Promise<void> {
  if (rows.length === 0) return;
  const col = <T>(pick: (r: ItemState) => T): T[] => rows.map(pick);
  await pool.query(UPSERT, [
    col((r) => r.site),
    col((r) => r.device),
    col((r) => r.item),
    col((r) => r.seq),
    col((r) => r.deviceTs),
    col((r) => r.status),
    col((r) => r.faultCode),
    col((r) => r.voltage),
    col((r) => r.resistance),
    col((r) => r.delayMs),
    col((r) => r.updatedAt),
    col((r) => r.source),
    // A text[] of text[] would need a 2-D array of equal lengths; a joined string does not.
    col((r) => r.changed.join(',')),
  ]);
}
