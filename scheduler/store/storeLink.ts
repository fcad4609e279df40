/**
 * The node's link to the scheduler database, first child of the `system` supervisor: it opens
 * the pool, brings the schema up to date, registers the node and heartbeats. The children after
 * it (reconciler, scheduler) use its pool through a StoreRef; rest_for_one restarts them when the
 * link restarts, so none of them keeps a pool that was closed.
 *
 * A node id held by another live node fails the start (NodeIdCollisionError, logged with what to
 * do); the supervisor retries with backoff and, past its intensity, the node exits 1. A database
 * that stays unreachable for longer than the node timeout fails the link too: by then the leader
 * has marked this node down and is moving its work, and the restart registers again.
 */
import pg from 'pg';
import type { Logger } from '../../core/log.js';
import { inProcessChild } from '../../supervisor/inProcessChild.js';
import type { ChildSpec } from '../../supervisor/types.js';
import { SchemaTooNewError, NodeNotRegisteredError } from '../errors.js';
import { heartbeat, registerNode, type NodeRegistration } from '../registry.js';
import { migrate } from './migrate.js';

/** Shared by the system children: the pool while the link is up, null otherwise. */
export interface StoreRef {
  pool: pg.Pool | null;
}

export interface StoreLinkOptions {
  id?: string;
  databaseUrl: string;
  /** Read at each (re-)registration: the address is known only once the admin server listens. */
  registration: () => NodeRegistration;
  heartbeatMs: number;
  nodeTimeoutMs: number;
  store: StoreRef;
  log: Logger;
}

export function storeLinkChild(options: StoreLinkOptions): ChildSpec {
  return inProcessChild({
    id: options.id ?? 'store',
    start: async (control) => {
      const { log, store } = options;
      const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 4, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 10_000 });
      // A pooled idle client losing its server emits 'error' on the pool; unheard it would crash the daemon.
      pool.on('error', (err) => log.warn('database connection lost', { err }));
      try {
        await migrate(pool).catch((err: unknown) => {
          // An older node next to a newer schema still runs; it must only not migrate.
          if (err instanceof SchemaTooNewError) log.warn('schema is newer than this node; not migrating', { err });
          else throw err;
        });
        const node = await registerNode(pool, options.registration(), options.nodeTimeoutMs);
        log.info('node registered', { labels: node.labels, capacity: node.capacity, adminState: node.adminState });
      } catch (err) {
        await pool.end().catch(() => undefined);
        throw err;
      }
      store.pool = pool;
      let lastOk = performance.now();
      let stopped = false;
      let inFlight: Promise<void> | undefined;
      const beat = async () => {
        try {
          const me = options.registration();
          const { revived } = await heartbeat(pool, me.id, me.hostKey, me.address);
          if (revived) log.warn('node was marked down and is up again');
          lastOk = performance.now();
        } catch (err) {
          if (stopped) return;
          if (err instanceof NodeNotRegisteredError) return control.fail(err.message);
          const silentMs = Math.round(performance.now() - lastOk);
          log.warn('heartbeat failed', { err, silentMs });
          if (silentMs > options.nodeTimeoutMs) control.fail(`no heartbeat reached the database for ${silentMs} ms (node timeout ${options.nodeTimeoutMs} ms)`);
        }
      };
      const timer = setInterval(() => {
        if (!inFlight) inFlight = beat().finally(() => (inFlight = undefined));
      }, options.heartbeatMs);
      return {
        stop: async () => {
          stopped = true;
          clearInterval(timer);
          await inFlight;
          if (store.pool === pool) store.pool = null;
          await pool.end().catch(() => undefined);
        },
      };
    },
  });
}
