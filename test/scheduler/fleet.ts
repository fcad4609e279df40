/**
 * A fleet on one machine for the scheduler tests: several real node daemons (`hydra node start`
 * in scheduled mode, each with its own node id, HYDRA_HOME, admin port and service ports)
 * against one real PostgreSQL database and one Redis key prefix, with short heartbeat, lease and
 * tick times so failures are detected in about a second. The services come from a release
 * recorded in the database whose app root is test/scheduler/fixtures/app.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { Test } from 'tap';
import { readNodeFile } from '../../node/pidFile.js';
import { migrate } from '../../scheduler/store/migrate.js';
import { testDatabase } from '../helpers/postgres.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { alive } from '../supervisor/workers.js';
import { HYDRA } from '../node/nodeProcess.js';

export const APP = fileURLToPath(new URL('./fixtures/app', import.meta.url));
export const BAD_APP = fileURLToPath(new URL('./fixtures/badapp', import.meta.url));

/** Detection times of the test fleet (ms). */
export const TIMING = { heartbeatMs: 200, nodeTimeoutMs: 1_500, leaseMs: 1_500, tickMs: 250, reconcileMs: 250 };

export interface FleetNode {
  id: string;
  proc: ChildProcess;
  home: string;
  env: Record<string, string>;
  adminUrl: string;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface Fleet {
  /** DATABASE_URL the nodes use (direct, or through PgBouncer). */
  databaseUrl: string;
  pool: pg.Pool;
  redis: TestRedis;
  nodes: Map<string, FleetNode>;
  /** `home`: the node's HYDRA_HOME (default a new temporary one), e.g. a deploy world's, to be the node pushes go to. */
  start(id: string, options?: { labels?: string; capacity?: string; home?: string; env?: Record<string, string> }): Promise<FleetNode>;
  kill(id: string): Promise<void>;
  /** The node holding the scheduler lease (unexpired), or null. */
  leader(): Promise<{ holder: string; epoch: number } | null>;
}

export async function startFleet(t: Test, options: { databaseUrl?: (direct: string) => Promise<string>; db?: { url: string; pool: pg.Pool } } = {}): Promise<Fleet> {
  // A database of its own, or one the test made already (a deploy world's), migrated either way.
  const db = options.db ?? (await testDatabase(t));
  await migrate(db.pool);
  const redis = await testRedis(t);
  const databaseUrl = options.databaseUrl ? await options.databaseUrl(db.url) : db.url;
  // Ports below the ephemeral range (32768+), spread so parallel test files do not collide.
  const portBase = 22_000 + Math.floor(Math.random() * 90) * 100;
  const nodes = new Map<string, FleetNode>();
  t.teardown(async () => {
    for (const n of nodes.values()) if (alive(n.proc.pid)) n.proc.kill('SIGTERM');
    await Promise.all(
      [...nodes.values()].map((n) =>
        Promise.race([n.exit, new Promise((r) => setTimeout(r, 10_000))]).then(() => {
          if (alive(n.proc.pid)) n.proc.kill('SIGKILL');
        }),
      ),
    );
    for (const home of madeHomes) rmSync(home, { recursive: true, force: true });
  });
  /** The HYDRA_HOMEs this fleet made (releases built there included), removed at the end. */
  const madeHomes: string[] = [];
  let started = 0;
  const fleet: Fleet = {
    databaseUrl,
    pool: db.pool,
    redis,
    nodes,
    async start(id, o = {}) {
      const home = o.home ?? mkdtempSync(path.join(os.tmpdir(), `hydra-fleet-${id}-`));
      if (!o.home) madeHomes.push(home);
      const env: Record<string, string> = {
        HYDRA_MODE: 'scheduled',
        HYDRA_NODE_ID: id,
        HYDRA_HOME: home,
        HYDRA_ADMIN_PORT: '0',
        HYDRA_SERVICE_PORT_BASE: String(portBase + started++ * 20),
        DATABASE_URL: databaseUrl,
        REDIS_URL: redis.url,
        HYDRA_KEY_PREFIX: redis.prefix,
        HYDRA_HEARTBEAT_MS: String(TIMING.heartbeatMs),
        HYDRA_NODE_TIMEOUT_MS: String(TIMING.nodeTimeoutMs),
        HYDRA_LEASE_MS: String(TIMING.leaseMs),
        HYDRA_SCHEDULER_TICK_MS: String(TIMING.tickMs),
        HYDRA_RECONCILE_MS: String(TIMING.reconcileMs),
        HYDRA_NODE_CAPACITY: o.capacity ?? 'cpu=4,memoryMb=4096',
        // LISTEN straight to PostgreSQL, even when DATABASE_URL goes through PgBouncer (as boot.sh sets it up).
        HYDRA_LISTEN_DATABASE_URL: db.url,
        ...(o.labels ? { HYDRA_NODE_LABELS: o.labels } : {}),
        ...o.env,
      };
      let out = '';
      const proc = spawn('env', ['-u', 'NODE_OPTIONS', HYDRA, 'node', 'start'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
      const file = await waitFor(
        `node ${id} to be registered and healthy`,
        async () => {
          if (proc.exitCode !== null) throw new Error(`node ${id} exited with ${proc.exitCode}:\n${out}`);
          const f = readNodeFile(home);
          if (!f) return null;
          const res = await fetch(`${f.adminUrl}/healthz`).catch(() => null);
          if (res?.status !== 200) return null;
          const r = await db.pool.query("SELECT 1 FROM nodes WHERE id = $1 AND state = 'up' AND address = $2", [id, f.adminUrl]);
          return r.rowCount === 1 ? f : null;
        },
        60_000,
        100,
      );
      const node: FleetNode = { id, proc, home, env, adminUrl: file.adminUrl, output: () => out, exit };
      nodes.set(id, node);
      return node;
    },
    async kill(id) {
      const node = nodes.get(id);
      if (!node) throw new Error(`no node ${id}`);
      node.proc.kill('SIGKILL');
      await node.exit;
    },
    async leader() {
      const r = await db.pool.query<{ holder: string; epoch: string }>("SELECT holder, epoch FROM leases WHERE name = 'scheduler' AND expires_at > now()");
      const row = r.rows[0];
      return row ? { holder: row.holder, epoch: Number(row.epoch) } : null;
    },
  };
  return fleet;
}

/** Records a release whose app root is `appRoot`; returns its id. */
export async function addRelease(pool: pg.Pool, commit: string, appRoot = APP): Promise<number> {
  const r = await pool.query<{ id: string }>("INSERT INTO releases (commit, path, status) VALUES ($1, $2, 'ready') RETURNING id", [commit, appRoot]);
  return Number(r.rows[0]!.id);
}

export interface PlacementView {
  service: string;
  instance: number;
  node_id: string | null;
  actual_state: string;
  actual_node: string | null;
  actual_port: number | null;
  actual_version: string | null;
  desired_version: string | null;
  unplaceable: string | null;
}

export async function placements(pool: pg.Pool, service?: string): Promise<PlacementView[]> {
  const r = await pool.query<PlacementView>(
    'SELECT service, instance, node_id, actual_state, actual_node, actual_port, actual_version, desired_version, unplaceable FROM placements WHERE ($1::text IS NULL OR service = $1) ORDER BY service, instance',
    [service ?? null],
  );
  return r.rows;
}

/** True when every placement of the service is placed and reported running on its own node. */
export function allRunning(rows: PlacementView[], count: number): boolean {
  return rows.length === count && rows.every((p) => p.node_id !== null && p.actual_node === p.node_id && p.actual_state === 'running');
}

/** The instance ids (`ping#1`) a node's supervision tree runs under `services`. */
export async function treeInstances(node: FleetNode): Promise<string[]> {
  const res = await fetch(`${node.adminUrl}/admin/tree`);
  const body = (await res.json()) as { tree: { children?: { id: string; state: string; children?: { id: string; state: string }[] }[] } };
  const services = body.tree.children?.find((c) => c.id === 'services');
  return (services?.children ?? []).filter((c) => c.state === 'running').map((c) => c.id).sort();
}
