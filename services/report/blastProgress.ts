/**
 * Blast progress in PostgreSQL (table blast_progress, schema.sql): the arm and fire frames of
 * blasts not ended yet are written as they arrive, and an end frame (complete, abort, fault)
 * turns them into a report in ONE transaction: read the blast's frames, summarize, insert the
 * report, delete the frames. Nothing is held only in memory, so a SIGKILL between arm and
 * complete loses nothing: the frames acknowledged so far are rows, the rest are redelivered.
 *
 * Idempotence (delivery is at-least-once): a frame is identified by (site, device, seq), the
 * primary key of blast_progress, so a redelivered arm or fire is a no-op insert; the report is
 * UNIQUE (site, device, blast_id), so a redelivered end frame inserts nothing; an arm or fire
 * of a blast that already has its report (a redelivery after the end, a late frame) is not
 * written, or its rows would wait forever for an end frame that has already been handled.
 *
 * One instance per consumer group is assumed (the default topology): two instances could take
 * a blast's arm and its end frame concurrently, and the end would not see the arm yet.
 */
import type pg from 'pg';
import { inTransaction } from '../../core/pgTransaction.js';
import type { PacketParsedV1 } from '../messages.js';
import { summarize, type EndSnapshot, type FrameSnapshot, type Outcome } from './summarize.js';

export type ProgressResult = 'recorded' | 'duplicate' | 'after_report';

/** Writes an arm or fire frame, unless it is a redelivery or its blast already has a report. */
export async function recordProgress(pool: pg.Pool, frame: PacketParsedV1): Promise<ProgressResult> {
  const { rows } = await pool.query<{ reported: boolean; inserted: boolean }>(
    `WITH done AS (SELECT 1 FROM reports WHERE site = $1 AND device = $2 AND blast_id = $4),
          ins AS (INSERT INTO blast_progress (site, device, seq, blast_id, frame_type, device_ts, items)
                  SELECT $1, $2, $3, $4, $5, $6, $7::jsonb WHERE NOT EXISTS (SELECT 1 FROM done)
                  ON CONFLICT (site, device, seq) DO NOTHING RETURNING 1)
     SELECT EXISTS (SELECT 1 FROM done) AS reported, EXISTS (SELECT 1 FROM ins) AS inserted`,
    [frame.site, frame.device, frame.seq, frame.blastId, frame.frameType, frame.deviceTs, JSON.stringify(frame.items)],
  );
  const r = rows[0]!;
  return r.reported ? 'after_report' : r.inserted ? 'recorded' : 'duplicate';
}

export interface FinishResult {
  /** False when the blast already had its report (a redelivered or second end frame). */
  created: boolean;
  id: number | null;
}

interface ProgressRow {
  seq: string;
  frame_type: 'arm' | 'fire';
  device_ts: string;
  items: FrameSnapshot['items'];
}

/** Ends a blast with its end frame: the report is written and the blast's progress removed, atomically. */
export async function finishBlast(pool: pg.Pool, frame: PacketParsedV1 & { frameType: Outcome }): Promise<FinishResult> {
  return inTransaction(pool, async (client) => {
    const key = [frame.site, frame.device, frame.blastId];
    const exists = await client.query('SELECT id FROM reports WHERE site = $1 AND device = $2 AND blast_id = $3', key);
    if (exists.rowCount) {
      return { created: false, id: Number(exists.rows[0].id) };
    }
    const progress = await client.query<ProgressRow>('SELECT seq, frame_type, device_ts, items FROM blast_progress WHERE site = $1 AND device = $2 AND blast_id = $3 ORDER BY seq', key);
    const frames = progress.rows.map((r) => ({ type: r.frame_type, snap: { seq: Number(r.seq), deviceTs: Number(r.device_ts), items: r.items } }));
    // The latest arm is the start (a unit re-armed under the same blast id starts over); the
    // first fire after it is the fire, falling back to any fire when they came in another order.
    const arm = frames.filter((f) => f.type === 'arm').at(-1)?.snap ?? null;
    const fires = frames.filter((f) => f.type === 'fire').map((f) => f.snap);
    const fire = fires.find((f) => arm === null || f.seq > arm.seq) ?? fires[0] ?? null;
    const end: EndSnapshot = { seq: frame.seq, deviceTs: frame.deviceTs, frameType: frame.frameType, items: frame.items };
    const summary = summarize({ arm, fire, end });
    const inserted = await client.query(
      `INSERT INTO reports (site, device, blast_id, outcome, summary, start_snapshot, end_snapshot)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb)
       ON CONFLICT (site, device, blast_id) DO NOTHING RETURNING id`,
      [...key, frame.frameType, JSON.stringify(summary), arm ? JSON.stringify(arm) : null, JSON.stringify(end)],
    );
    await client.query('DELETE FROM blast_progress WHERE site = $1 AND device = $2 AND blast_id = $3', key);
    return inserted.rowCount ? { created: true, id: Number(inserted.rows[0].id) } : { created: false, id: null };
  });
}

/** Blasts with progress and no end yet: logged at start, so a resumed blast is visible. */
export async function openBlasts(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(DISTINCT (site, device, blast_id)) AS n FROM blast_progress');
  return Number(rows[0]!.n);
}
