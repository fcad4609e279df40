/**
 * The reference pipeline on a scheduled node, for hot-swap tests and the swap bench: one real
 * `hydra node start` in HYDRA_MODE=scheduled, with ingest, parse, state and report placed on it
 * by the scheduler from a release (by default a release record whose app root is this checkout's
 * dist/, so no build is needed), its own PostgreSQL database, Redis prefix and fleet file.
 * Short tick and reconcile times, so a deployment is picked up within a fraction of a second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { putServiceSpec } from '../../scheduler/specs.js';
import { migrate } from '../../scheduler/store/migrate.js';
import { writeFleet } from '../../services/packet/fleet.js';
import type { Fleet } from '../../services/messages.js';
import { makeFleet } from '../../services/simulator/simulator.js';
import { readNodeFile } from '../../node/pidFile.js';
import { bearer, testApiToken } from '../helpers/apiTokens.js';
import { testDatabase, type Teardown } from '../helpers/postgres.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { alive } from '../supervisor/workers.js';

export const HYDRA_BIN = fileURLToPath(new URL('../../bin/hydra', import.meta.url));
/** This checkout's built code: the app root a release record can point at. */
export const OWN_DIST = fileURLToPath(new URL('../../dist', import.meta.url));
export const PIPELINE = ['ingest', 'parse', 'state', 'report'] as const;

export interface ScheduledPipeline {
  nodeId: string;
  home: string;
  env: Record<string, string>;
  pool: pg.Pool;
  databaseUrl: string;
  redis: TestRedis;
  fleet: Fleet;
  adminUrl: string;
  /** A viewer API token on the scheduler's database, and its header. */
  token: string;
  auth: { authorization: string };
  /** Base URL of the running instance of a service (from its placement). */
  url(service: string): Promise<string>;
  /** pid of each running pipeline service, by name. */
  pids(): Promise<Record<string, number>>;
  output(): string;
  proc: ChildProcess;
}

/** Records a release whose app root is `appRoot`; returns its id. */
export async function recordRelease(pool: pg.Pool, commit: string, appRoot = OWN_DIST): Promise<number> {
  const r = await pool.query<{ id: string }>(
    "INSERT INTO releases (commit, path, status) VALUES ($1, $2, 'ready') ON CONFLICT (commit) DO UPDATE SET path = EXCLUDED.path RETURNING id",
    [commit, appRoot],
  );
  return Number(r.rows[0]!.id);
}

export interface ScheduledPipelineOptions {
  release?: string;
  logLevel?: string;
  /** The Redis the node uses instead of a prefix on the shared test server (the chaos tests' own). */
  redis?: TestRedis;
  /** The DATABASE_URL the node gets, from its database's URL (say, the same through a proxy). */
  nodeDatabaseUrl?: (url: string) => string;
  /** More environment for the daemon and its services. */
  env?: Record<string, string>;
}

export async function scheduledPipeline(t: Teardown, options: ScheduledPipelineOptions = {}): Promise<ScheduledPipeline> {
  const db = await testDatabase(t);
  await migrate(db.pool);
  const { token } = await testApiToken(db.url, 'viewer');
  const redis = options.redis ?? (await testRedis(t));
  const home = mkdtempSync(path.join(os.tmpdir(), 'hydra-sched-pipeline-'));
  const fleet = makeFleet({ sites: 2, unitsPerSite: 3, detonatorsPerUnit: 8, seed: 11 });
  writeFleet(path.join(home, 'fleet.json'), fleet);
  const nodeId = 'swap';
  const env: Record<string, string> = {
    HYDRA_MODE: 'scheduled',
    HYDRA_HOME: home,
    HYDRA_NODE_ID: nodeId,
    HYDRA_ADMIN_PORT: '0',
    HYDRA_SERVICE_PORT_BASE: String(20_000 + Math.floor(Math.random() * 120) * 100),
    REDIS_URL: redis.url,
    HYDRA_KEY_PREFIX: redis.prefix,
    DATABASE_URL: options.nodeDatabaseUrl?.(db.url) ?? db.url,
    // As boot.sh sets a node up; through the chaos tests' proxy too, so a PostgreSQL cut cuts LISTEN.
    HYDRA_LISTEN_DATABASE_URL: options.nodeDatabaseUrl?.(db.url) ?? db.url,
    HYDRA_HEARTBEAT_MS: '500',
    HYDRA_NODE_TIMEOUT_MS: '5000',
    HYDRA_LEASE_MS: '3000',
    HYDRA_SCHEDULER_TICK_MS: '200',
    HYDRA_RECONCILE_MS: '200',
    HYDRA_LOG_LEVEL: options.logLevel ?? 'info',
    ...options.env,
  };
  let out = '';
  const proc = spawn('env', ['-u', 'NODE_OPTIONS', HYDRA_BIN, 'node', 'start'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-2_000_000)));
  proc.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-2_000_000)));
  const exit = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  t.teardown(async () => {
    if (alive(proc.pid)) proc.kill('SIGTERM');
    await Promise.race([exit, new Promise((r) => setTimeout(r, 15_000))]);
    if (alive(proc.pid)) proc.kill('SIGKILL');
  });
  const file = await waitFor(
    'the scheduled node to register',
    async () => {
      if (proc.exitCode !== null) throw new Error(`node exited with ${proc.exitCode}:\n${out.slice(-4000)}`);
      const f = readNodeFile(home);
      if (!f) return null;
      const r = await db.pool.query("SELECT 1 FROM nodes WHERE id = $1 AND state = 'up'", [nodeId]);
      return r.rowCount === 1 ? f : null;
    },
    60_000,
    100,
  );
  const releaseId = await recordRelease(db.pool, options.release ?? 'a'.repeat(40));
  for (const name of PIPELINE) await putServiceSpec(db.pool, { name, instances: 1, pinnedNode: nodeId, releaseId }, 'test');

  const placement = async (service: string) => {
    const r = await db.pool.query<{ actual_port: number | null; actual_pid: number | null; actual_state: string }>(
      "SELECT actual_port, actual_pid, actual_state FROM placements WHERE service = $1 AND instance = 0 AND actual_node = node_id",
      [service],
    );
    return r.rows[0];
  };
  const pipeline: ScheduledPipeline = {
    nodeId,
    home,
    env,
    pool: db.pool,
    databaseUrl: db.url,
    redis,
    fleet,
    adminUrl: file.adminUrl,
    token,
    auth: bearer(token),
    proc,
    output: () => out,
    async url(service) {
      const p = await placement(service);
      if (!p?.actual_port || p.actual_state !== 'running') throw new Error(`${service} is not running: ${JSON.stringify(p)}`);
      return `http://127.0.0.1:${p.actual_port}`;
    },
    async pids() {
      const r = await db.pool.query<{ service: string; actual_pid: number }>("SELECT service, actual_pid FROM placements WHERE actual_state = 'running' AND actual_node = node_id");
      return Object.fromEntries(r.rows.map((row) => [row.service, row.actual_pid]));
    },
  };
  await waitFor(
    'the four pipeline services running',
    async () => {
      const r = await db.pool.query("SELECT 1 FROM placements WHERE actual_state = 'running' AND actual_node = node_id AND actual_port IS NOT NULL");
      return r.rowCount === PIPELINE.length;
    },
    90_000,
    100,
  );
  return pipeline;
}

export interface StreamTail {
  /** Stops reading; resolves with every entry seen: its time (the id's ms) and its body. */
  stop(): Promise<Array<{ ms: number; body: unknown }>>;
  /** The entries seen so far, while it keeps reading. */
  peek(): ReadonlyArray<{ ms: number; body: unknown }>;
}

/**
 * Reads a stream as it is written (XREAD on its own connection, no consumer group), so entries
 * are seen even if the stream is trimmed later (a stream nobody consumes is trimmed to its
 * high-water mark) and without holding anything back from the pipeline. A failed read (Redis
 * restarted or cut by a chaos test) is retried from the last id seen, so nothing is skipped.
 */
export async function tailStream(redis: TestRedis, stream: string): Promise<StreamTail> {
  const reader = redis.redis.duplicate();
  reader.on('error', () => undefined); // reconnects by itself; a failed read is retried below
  const key = `${redis.prefix}${stream}`;
  const seen: Array<{ ms: number; body: unknown }> = [];
  // From the newest entry there is now, by id: '$' would be re-read at each call, so an entry
  // written between a read that timed out empty and the next one would be missed for good.
  const top = (await reader.xrevrange(key, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
  let last = top[0]?.[0] ?? '0-0';
  let running = true;
  const loop = (async () => {
    while (running) {
      let res: Array<[string, Array<[string, string[]]>]> | null;
      try {
        res = (await reader.xread('COUNT', 5_000, 'BLOCK', 200, 'STREAMS', key, last)) as typeof res;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      for (const [, entries] of res ?? []) {
        for (const [id, fields] of entries) {
          last = id;
          seen.push({ ms: Number(id.split('-')[0]), body: JSON.parse(fields[fields.indexOf('body') + 1]!) as unknown });
        }
      }
    }
  })();
  return {
    peek: () => seen,
    async stop() {
      running = false;
      await loop;
      reader.disconnect();
      return seen;
    },
  };
}

/** The longest gap between consecutive times inside [from, to] (including the edges), in ms. */
export function longestPause(times: number[], from: number, to: number): number {
  const inside = [from, ...times.filter((x) => x > from && x < to), to];
  let max = 0;
  for (let i = 1; i < inside.length; i++) max = Math.max(max, inside[i]! - inside[i - 1]!);
  return max;
}
