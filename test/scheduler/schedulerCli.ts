/**
 * For the `hydra scheduler …` tests: the built bin/hydra run as a user would, a migrated
 * database of the test's own, and the seeding the commands read (nodes through the registry,
 * placements through the real planner and applyPlan, as the leader's tick writes them).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type pg from 'pg';
import type { Test } from 'tap';
import { tryAcquire } from '../../scheduler/lease.js';
import { plan } from '../../scheduler/placement/plan.js';
import { applyPlan, listPlacements } from '../../scheduler/placements.js';
import { listNodes, registerNode } from '../../scheduler/registry.js';
import { listServiceSpecs } from '../../scheduler/specs.js';
import { migrate } from '../../scheduler/store/migrate.js';
import { testDatabase } from '../helpers/postgres.js';

const HYDRA = fileURLToPath(new URL('../../bin/hydra', import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** bin/hydra with the given variables (undefined = unset). */
export async function hydra(env: Record<string, string | undefined>, ...args: string[]): Promise<Run> {
  // Through env(1) without NODE_OPTIONS: tap's loader cannot load an extensionless ESM bin.
  const vars = Object.entries(env).flatMap(([k, v]) => (v === undefined ? ['-u', k] : [`${k}=${v}`]));
  try {
    const { stdout, stderr } = await promisify(execFile)('env', ['-u', 'NODE_OPTIONS', ...vars, HYDRA, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export interface CliDatabase {
  url: string;
  pool: pg.Pool;
  /** `hydra scheduler <args>` on this database. */
  scheduler(...args: string[]): Promise<Run>;
  /** The same with --json, parsed (fails the test on a non-zero exit). */
  json<T = Record<string, unknown>>(...args: string[]): Promise<T>;
}

export async function cliDatabase(t: Test): Promise<CliDatabase> {
  const db = await testDatabase(t);
  // testDatabase's teardown drops the database WITH (FORCE) right after pool.end(), which
  // resolves before its clients' sockets are closed: a backend still alive then is terminated
  // (57P01) and the pool would raise that as an uncaught 'error'. Harmless at that point.
  db.pool.on('error', (err: Error & { code?: string }) => {
    if (err.code !== '57P01') throw err;
  });
  await migrate(db.pool);
  const scheduler = (...args: string[]) => hydra({ DATABASE_URL: db.url }, 'scheduler', ...args);
  return {
    url: db.url,
    pool: db.pool,
    scheduler,
    async json<T>(...args: string[]) {
      const r = await scheduler(...args, '--json');
      t.equal(r.code, 0, `${args.join(' ')} --json: ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    },
  };
}

export async function addNode(pool: pg.Pool, id: string, labels: Record<string, string> = {}, capacity: Record<string, number> = {}): Promise<void> {
  await registerNode(pool, { id, hostKey: `host-${id}`, labels, capacity, address: `https://${id}.example:443`, version: '0.1.0' }, 60_000);
}

/** One leader tick's placement step: plan the current world and write it, fenced. */
export async function leaderTick(pool: pg.Pool): Promise<void> {
  const lease = (await tryAcquire(pool, 'scheduler', 'test-leader', 60_000))!;
  const [specs, nodes, placements] = await Promise.all([listServiceSpecs(pool), listNodes(pool), listPlacements(pool)]);
  await applyPlan(pool, lease, plan({ specs, nodes, placements }), 'test-leader');
}

/** A release row as the deploy receiver records it; returns its id. */
export async function addRelease(pool: pg.Pool, commit: string, status: 'ready' | 'building' | 'failed' = 'ready'): Promise<number> {
  const r = await pool.query<{ id: string }>('INSERT INTO releases (commit, path, status) VALUES ($1, $2, $3) RETURNING id', [commit, `/srv/hydra/releases/${commit}`, status]);
  return Number(r.rows[0]!.id);
}

/** The people output's lines with runs of spaces collapsed, so assertions do not depend on column widths. */
export function lines(stdout: string): string[] {
  return stdout.trimEnd().split('\n').map((l) => l.replace(/ {2,}/g, ' | '));
}
