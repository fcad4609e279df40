/**
 * The live-state server of the reference pipeline. Consumes `packet.parsed@1`, applies each
 * item's update only when its sequence is newer than the one held (liveState.ts), keeps the
 * state in memory for queries and subscriptions, persists it write-behind to its own table
 * item_state (writeBehind.ts, itemStore.ts), emits `state.change@1` per applied update, and
 * serves `GET /state/sites/:site`, `GET /state/items`, `GET /state/stream` (SSE) and the
 * WebSocket `/state/ws` (protocol.ts). On start it rebuilds the memory from item_state before
 * the runtime starts consuming.
 *
 * Durability: `handle` resolves only after the flush carrying its rows has committed, and the
 * runtime acknowledges a batch only after `handle` resolved, so a crash loses nothing that was
 * acknowledged; the lag between memory and PostgreSQL is bounded by one flush (STATE_FLUSH_MS,
 * 50 ms). While PostgreSQL is unreachable, handle keeps retrying with backoff instead of acking,
 * and the memory keeps answering queries.
 *
 * state.changes carries every applied update exactly once: the changes of a batch are published
 * atomically with its acknowledgement (the runtime's publishOnAck). A batch redelivered after a
 * crash that came after its flush finds its updates already held; the last one of each item is
 * recognised by its source (a redelivery, liveState.ts) and the ones a later update of the same
 * batch overwrote are kept beside the rows (item_state_superseded), so both are announced again.
 */
import { existsSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import type { Envelope } from '../../channels/index.js';
import { defineService, type ServiceContext } from '../../runtime/sdk.js';
import { CHANNELS, type PacketParsedV1 } from '../messages.js';
import { checkUpdate } from './checkUpdate.js';
import { readStateConfig } from './config.js';
import type { StateChangeV1 } from '../messages.js';
import { bySource, ensureSchema, loadItems, loadSuperseded, writeFlush, type Superseded } from './itemStore.js';
import { LiveState } from './liveState.js';
import { stateRoutes, type RouteOptions } from './routes.js';
import { StreamLimits } from './streamLimits.js';
import type { ItemState } from './selector.js';
import { WriteBehind } from './writeBehind.js';
import { stateWebSocket, type WsOptions } from './wsServer.js';

/** What handle and the flush share between batches. */
interface Batches {
  /** Handlers between their start and handing their rows to the writer (see WriteBehind's `idle`). */
  applying: number;
  /** What item_state_superseded holds: the overwritten changes of the last flushed batch, by source entry. */
  stored: Map<string, StateChangeV1[]>;
}

/** One instance's state, made by init. */
interface StateInstance {
  live: LiveState;
  /** Read by the routes and the WebSocket per request and connection. */
  settings: RouteOptions & WsOptions;
  pool: pg.Pool;
  writer: WriteBehind;
  batches: Batches;
}

function count(ctx: ServiceContext, name: string, by = 1): void {
  ctx.counters[name] = (ctx.counters[name] ?? 0) + by;
}

export default defineService({
  name: 'state',
  version: '1.0.0',
  consumes: { [CHANNELS.parsed]: ['packet.parsed@1'] },
  produces: { [CHANNELS.changes]: ['state.change@1'] },
  batchSize: 200,

  async init(ctx): Promise<StateInstance> {
    const config = readStateConfig();
    const settings = { ssePingMs: config.ssePingMs, pingMs: config.wsPingMs, maxBindings: config.wsMaxBindings, limits: new StreamLimits(config.maxStreams, config.maxStreamsPerClient) };
    const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 4 });
    // An idle client's error (PostgreSQL restarted) is emitted on the pool: log it, never crash.
    pool.on('error', (err) => ctx.log.warn('postgres idle client error', { err: err.message }));
    await ensureSchema(pool);
    const started = Date.now();
    const live = new LiveState();
    live.load(await loadItems(pool));
    const batches: Batches = { applying: 0, stored: await loadSuperseded(pool) };
    ctx.counters.items = live.size;
    ctx.log.info('state rebuilt from item_state', { items: live.size, ms: Date.now() - started });
    for (const name of ['applied', 'ignored_stale', 'redelivered', 'bad_updates', 'flushes', 'rows_written', 'db_write_failures']) ctx.counters[name] = 0;

    let failing = false;
    const writer = new WriteBehind({
      // The table is replaced only when it holds something or will: most flushes are one upsert.
      write: async (rows, superseded) => {
        await writeFlush(pool, rows, superseded, batches.stored.size > 0);
        batches.stored = bySource(superseded);
        const marker = config.crashAfterFlushMarker;
        if (marker && superseded.length > 0 && !existsSync(marker)) {
          writeFileSync(marker, `${process.pid}\n`);
          process.kill(process.pid, 'SIGKILL');
        }
      },
      intervalMs: config.flushMs,
      maxRows: config.flushRows,
      idle: () => batches.applying === 0,
      onFlush: (rows) => {
        count(ctx, 'flushes');
        count(ctx, 'rows_written', rows);
        if (failing) ctx.log.info('postgres writes resumed', { rows });
        failing = false;
      },
      onError: (err, attempt, retryInMs) => {
        count(ctx, 'db_write_failures');
        // One line per failure streak at warn; the retries after it at debug.
        (failing ? ctx.log.debug : ctx.log.warn)('postgres write failed; batch held unacknowledged, retrying', { attempt, retryInMs, err: (err as Error).message ?? String(err) });
        failing = true;
      },
    });
    return { live, settings, pool, writer, batches };
  },

  async handle(batch: Envelope[], ctx, { live, writer, batches }) {
    const rows: ItemState[] = [];
    /** Changes of this batch a later update of the same item overwrote, written with the rows. */
    const superseded: Superseded[] = [];
    const latest = new Map<string, Superseded>();
    batches.applying++;
    try {
      for (const m of batch) {
        let update: PacketParsedV1;
        try {
          update = checkUpdate(m);
        } catch (err) {
          count(ctx, 'bad_updates');
          ctx.deadLetter(m, (err as Error).message);
          continue;
        }
        // Redelivered after a crash that followed the flush: what this entry applied and a later
        // update overwrote (the rows only hold the later one). Kept until this batch is acked.
        for (const change of batches.stored.get(m.id) ?? []) {
          count(ctx, 'redelivered');
          superseded.push({ source: m.id, change });
          await ctx.emit(CHANNELS.changes, 'state.change@1', change, `${change.site}:${change.device}`);
        }
        for (const record of update.items) {
          const result = live.apply(update, record, m.id);
          if (result.kind === 'stale') {
            count(ctx, 'ignored_stale');
            continue;
          }
          count(ctx, result.kind);
          rows.push(result.state);
          const item = `${update.site}:${update.device}:${record.item}`;
          const before = latest.get(item);
          if (before) superseded.push(before);
          latest.set(item, { source: m.id, change: result.change });
          // Buffered by the runtime and published with the batch's acknowledgement.
          await ctx.emit(CHANNELS.changes, 'state.change@1', result.change, `${update.site}:${update.device}`);
        }
      }
    } finally {
      batches.applying--;
    }
    ctx.counters.items = live.size;
    await writer.write(rows, superseded);
  },

  http: stateRoutes,
  websocket: stateWebSocket,

  health({ writer }) {
    const since = writer.failingSince;
    // Still healthy: memory serves queries and nothing is acknowledged unwritten; the detail tells operators.
    if (since !== null) return { healthy: true, detail: `postgres writes failing for ${Math.round((Date.now() - since) / 1000)} s; ${writer.lag} rows waiting` };
    return { healthy: true };
  },

  async stop(_ctx, { writer, pool }) {
    await writer.drain();
    await pool.end();
  },
});
