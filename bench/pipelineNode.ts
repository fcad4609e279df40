/**
 * A throwaway node for benches: the built daemon running the reference pipeline with its own
 * HYDRA_HOME, PostgreSQL database and Redis prefix, all removed afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createApiToken } from '../scheduler/store/apiTokens.js';
import { migrate } from '../scheduler/store/migrate.js';
import type { ChildInfo } from '../supervisor/types.js';

const HYDRA = fileURLToPath(new URL('../bin/hydra', import.meta.url));

export interface BenchNode {
  home: string;
  prefix: string;
  redisUrl: string;
  daemonPid: number;
  /** A viewer API token on the node's database, for reading state. */
  token: string;
  /** Port of `<service>#1`. */
  port(service: string): number;
  tree(): Promise<ChildInfo>;
  close(): Promise<void>;
}

export async function startBenchNode(writeFleetTo: (file: string) => void): Promise<BenchNode> {
  const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const name = `hydra_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const dbUrl = new URL(databaseUrl);
  dbUrl.pathname = `/${name}`;
  const tokens = new pg.Client({ connectionString: dbUrl.toString() });
  await tokens.connect();
  await migrate(tokens);
  const { token } = await createApiToken(tokens, { role: 'viewer', name: 'bench', expiresAt: null, actor: 'bench' });
  await tokens.end();
  const home = mkdtempSync(path.join(os.tmpdir(), 'hydra-bench-'));
  writeFleetTo(path.join(home, 'fleet.json'));
  const prefix = `hydra-bench:${name}:`;
  const env: NodeJS.ProcessEnv = {
    ...process.env, HYDRA_HOME: home, HYDRA_NODE_ID: 'bench', HYDRA_ADMIN_PORT: '0', HYDRA_SERVICE_PORT_BASE: '28100',
    REDIS_URL: redisUrl, HYDRA_KEY_PREFIX: prefix, DATABASE_URL: dbUrl.toString(), HYDRA_LOG_LEVEL: 'warn',
  };
  delete env.NODE_OPTIONS;
  const proc: ChildProcess = spawn(HYDRA, ['node', 'start'], { env, stdio: 'ignore' });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let adminUrl = '';
  let services: ChildInfo[] = [];
  const tree = async (): Promise<ChildInfo> => ((await (await fetch(`${adminUrl}/admin/tree`)).json()) as { tree: ChildInfo }).tree;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`bench node exited with ${proc.exitCode}`);
    if (Date.now() > deadline) throw new Error('bench node did not come up within 90 s');
    try {
      adminUrl = (JSON.parse(readFileSync(path.join(home, 'run', 'node.json'), 'utf8')) as { adminUrl: string }).adminUrl;
      services = (await tree()).children?.find((c) => c.id === 'services')?.children ?? [];
      if (services.length === 4 && services.every((s) => s.state === 'running' && s.port)) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    home,
    prefix,
    redisUrl,
    daemonPid: proc.pid!,
    token,
    port: (service) => services.find((s) => s.id === `${service}#1`)!.port!,
    tree,
    async close() {
      proc.kill('SIGTERM');
      await exited;
      const redis = new Redis(redisUrl);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
      const c = new pg.Client({ connectionString: databaseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
