/**
 * The blast report service of the reference pipeline. Consumes `packet.parsed@1` in its own
 * consumer group (`report`), so it sees every parsed frame whatever the state service does;
 * status frames are skipped. A blast is one unit's `arm` → `fire` → `complete` (or `abort` /
 * `fault`), keyed by (site, device, blastId): arm and fire frames are written to blast_progress
 * as they arrive, and the end frame turns them into a report (summary, start and end
 * snapshots) in one transaction (blastProgress.ts). Serves the reports at /reports as JSON,
 * HTML and PDF (routes.ts).
 *
 * Durability: every write commits before `handle` resolves, and the runtime acknowledges only
 * after that, so a SIGKILL at any point leaves either the committed effect or a redelivery,
 * and redeliveries are no-ops (frame identity (site, device, seq), one report per blast).
 */
import pg from 'pg';
import type { Envelope } from '../../channels/index.js';
import { defineService, type ServiceContext } from '../../runtime/sdk.js';
import { CHANNELS } from '../messages.js';
import { finishBlast, openBlasts, recordProgress } from './blastProgress.js';
import { checkParsedPacket, frameTypeOf, ParsedPacketError } from '../checkParsed.js';
import { readReportConfig } from './config.js';
import { ensureSchema } from './reportStore.js';
import { retryTransient } from './retryTransient.js';
import { reportRoutes } from './routes.js';
import type { Outcome } from './summarize.js';

/** One instance's state, made by init. */
interface ReportInstance {
  pool: pg.Pool;
  /** Since when database writes have been failing (null while they work), for health. */
  failingSince: number | null;
}

const COUNTERS = ['status_frames_skipped', 'blast_frames', 'duplicate_frames', 'late_frames', 'reports_created', 'duplicate_end_frames', 'bad_frames', 'db_retries'];

function count(ctx: ServiceContext, name: string): void {
  ctx.counters[name] = (ctx.counters[name] ?? 0) + 1;
}

/** One frame's effect, committed before it returns. */
async function handleOne(m: Envelope, ctx: ServiceContext, report: ReportInstance): Promise<void> {
  let frame;
  try {
    if (frameTypeOf(m, 'report') === 'status') return count(ctx, 'status_frames_skipped');
    frame = checkParsedPacket(m, 'report');
    if (frame.blastId === 0) throw new ParsedPacketError(`body.blastId: 0 is reserved for status frames; a ${frame.frameType} frame names its blast`);
  } catch (err) {
    if (!(err instanceof ParsedPacketError)) throw err;
    count(ctx, 'bad_frames');
    return ctx.deadLetter(m, err.message);
  }
  const blast = { site: frame.site, device: frame.device, blastId: frame.blastId, seq: frame.seq };
  const retry = {
    onRetry: (err: unknown, attempt: number, retryInMs: number) => {
      count(ctx, 'db_retries');
      (report.failingSince === null ? ctx.log.warn : ctx.log.debug)('postgres unreachable; frame held unacknowledged, retrying', { ...blast, attempt, retryInMs, err: (err as Error).message ?? String(err) });
      report.failingSince ??= Date.now();
    },
  };
  if (frame.frameType === 'arm' || frame.frameType === 'fire') {
    const result = await retryTransient(() => recordProgress(report.pool, frame), retry);
    count(ctx, result === 'recorded' ? 'blast_frames' : result === 'duplicate' ? 'duplicate_frames' : 'late_frames');
  } else {
    const result = await retryTransient(() => finishBlast(report.pool, { ...frame, frameType: frame.frameType as Outcome }), retry);
    if (result.created) {
      count(ctx, 'reports_created');
      ctx.log.info('blast report created', { ...blast, id: result.id, outcome: frame.frameType });
    } else count(ctx, 'duplicate_end_frames');
  }
  if (report.failingSince !== null) ctx.log.info('postgres writes resumed', { failedForMs: Date.now() - report.failingSince });
  report.failingSince = null;
}

export default defineService({
  name: 'report',
  version: '1.0.0',
  mount: '/reports',
  consumes: { [CHANNELS.parsed]: ['packet.parsed@1'] },
  batchSize: 200,

  async init(ctx): Promise<ReportInstance> {
    const config = readReportConfig();
    const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 4 });
    // An idle client's error (PostgreSQL restarted) is emitted on the pool: log it, never crash.
    pool.on('error', (err) => ctx.log.warn('postgres idle client error', { err: err.message }));
    await ensureSchema(pool);
    for (const name of COUNTERS) ctx.counters[name] = 0;
    const open = await openBlasts(pool);
    if (open > 0) ctx.log.info('resuming blasts in progress', { blasts: open });
    return { pool, failingSince: null };
  },

  async handle(batch: Envelope[], ctx, report) {
    // In order: a blast's end frame must see the arm and fire frames before it in the batch.
    for (const m of batch) await handleOne(m, ctx, report);
  },

  http: reportRoutes,

  health({ failingSince }) {
    // Still healthy (a restart would not bring PostgreSQL back, and nothing is acknowledged
    // unwritten); the detail tells operators why no reports are appearing.
    if (failingSince !== null) return { healthy: true, detail: `postgres unreachable for ${Math.round((Date.now() - failingSince) / 1000)} s; frames held unacknowledged` };
    return { healthy: true };
  },

  async stop(_ctx, { pool }) {
    await pool.end();
  },
});
