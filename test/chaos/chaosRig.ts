/**
 * The stage of a chaos scenario: a real node running the reference pipeline on a Redis of its
 * own (ownRedis.ts: AOF, killable), reached through a cuttable proxy, and on its own PostgreSQL
 * database reached through another proxy (tcpProxy.ts). Standalone (pipelineNode: power cuts)
 * or scheduled (scheduledPipeline: hot swaps as rolling updates). The test's own observers (the
 * state.changes tail, the database pool) bypass the proxies: they watch, they are not the patient.
 */
import path from 'node:path';
import type pg from 'pg';
import { Redis } from 'ioredis';
import type { Test } from 'tap';
import { startDeployment } from '../../scheduler/rollout.js';
import { writeFleet } from '../../services/packet/fleet.js';
import type { Fleet } from '../../services/messages.js';
import { makeFleet } from '../../services/simulator/simulator.js';
import { DATABASE_URL } from '../helpers/postgres.js';
import type { TestRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { pipelineNode } from '../pipeline/pipelineNode.js';
import { PIPELINE, recordRelease, scheduledPipeline } from '../pipeline/scheduledPipeline.js';
import { ownRedis, type OwnRedis } from './ownRedis.js';
import { tcpProxy, type TcpProxy } from './tcpProxy.js';

export type RigMode = 'standalone' | 'scheduled';

export interface ChaosRig {
  mode: RigMode;
  fleet: Fleet;
  redis: OwnRedis;
  redisProxy: TcpProxy;
  pgProxy: TcpProxy;
  /** A direct client on the node's Redis, with the node's key prefix (for tailStream). */
  observer: TestRedis;
  /** A direct pool on the node's database. */
  pool: pg.Pool;
  /** A viewer API token's header, for reading state and reports. */
  auth: { authorization: string };
  url(service: string): Promise<string>;
  /** pid of each pipeline service now running, by name. */
  pids(): Promise<Record<string, number>>;
  /** Standalone only: SIGKILL of the daemon (its children follow); `start` brings it back. */
  powerCut?(): Promise<void>;
  start?(): Promise<void>;
  /** Scheduled only: a rolling update of `service` to the other release; resolves when it succeeded. */
  swap?(service: string): Promise<void>;
  output(): string;
}

const PREFIX = 'hydra:';

export async function chaosRig(t: Test, mode: RigMode): Promise<ChaosRig> {
  const redis = await ownRedis(t);
  const redisProxy = await tcpProxy(t, { port: redis.port });
  const pg = new URL(DATABASE_URL);
  const pgProxy = await tcpProxy(t, { host: pg.hostname, port: Number(pg.port || 5432) });
  const viaProxy = (url: string): string => {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(pgProxy.port);
    return u.toString();
  };
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  client.on('error', () => undefined); // the server is restarted on purpose; ioredis reconnects
  t.teardown(() => client.disconnect());
  const observer: TestRedis = { url: redis.url, prefix: PREFIX, redis: client };
  const nodeRedis = { url: `redis://127.0.0.1:${redisProxy.port}`, prefix: PREFIX };
  // Short reconcile and heartbeat times come with the scheduled harness; quieter logs for both.
  const env = { HYDRA_LOG_LEVEL: 'warn' };

  if (mode === 'standalone') {
    const node = await pipelineNode(t, { redis: nodeRedis, nodeDatabaseUrl: viaProxy, env });
    const fleet = makeFleet({ sites: 2, unitsPerSite: 3, detonatorsPerUnit: 8, seed: 11 });
    writeFleet(path.join(node.home, 'fleet.json'), fleet);
    await node.start();
    return {
      mode,
      fleet,
      redis,
      redisProxy,
      pgProxy,
      observer,
      pool: node.db.pool,
      auth: node.auth,
      url: (s) => node.url(s),
      async pids() {
        const services = (await node.tree()).children?.find((c) => c.id === 'services')?.children ?? [];
        return Object.fromEntries(services.filter((c) => c.pid && c.state === 'running').map((c) => [c.id.replace(/#\d+$/, ''), c.pid!]));
      },
      powerCut: () => node.powerCut(),
      start: () => node.start(),
      output: () => node.output(),
    };
  }

  const p = await scheduledPipeline(t, { redis: { ...observer, url: nodeRedis.url }, nodeDatabaseUrl: viaProxy, logLevel: 'warn' });
  const releases = ['a'.repeat(40), 'b'.repeat(40)];
  const ids: number[] = [];
  for (const r of releases) ids.push(await recordRelease(p.pool, r));
  // One rolling update of a service at a time (the scheduler refuses a second one meanwhile).
  let swaps: Promise<void> = Promise.resolve();
  const swapOnce = async (service: string): Promise<void> => {
    const spec = await p.pool.query<{ release_id: string }>('SELECT release_id FROM service_specs WHERE name = $1', [service]);
    const release = Number(spec.rows[0]!.release_id) === ids[0] ? releases[1]! : releases[0]!;
    const d = await startDeployment(p.pool, { service, release, healthWindowMs: 300, batchTimeoutMs: 60_000, actor: 'chaos' });
    await waitFor(
      `the hot swap of ${service} (deployment ${d.id})`,
      async () => {
        const r = await p.pool.query<{ state: string; error: string | null }>('SELECT state, error FROM deployments WHERE id = $1', [d.id]);
        const row = r.rows[0]!;
        if (row.state === 'failed' || row.state === 'rolled_back') throw new Error(`hot swap of ${service} ${row.state}: ${row.error}`);
        return row.state === 'succeeded';
      },
      90_000,
      50,
    );
  };
  return {
    mode,
    fleet: p.fleet,
    redis,
    redisProxy,
    pgProxy,
    observer,
    pool: p.pool,
    auth: p.auth,
    url: (s) => p.url(s),
    async pids() {
      const all = await p.pids();
      return Object.fromEntries(PIPELINE.filter((s) => all[s]).map((s) => [s, all[s]!]));
    },
    swap(service) {
      const next = swaps.then(() => swapOnce(service));
      swaps = next.catch(() => undefined);
      return next;
    },
    output: () => p.output(),
  };
}
