/**
 * A real node running the reference pipeline for end-to-end tests: the built `bin/hydra node
 * start` with the default topology (ingest, parse, state, report), its own Redis prefix, its own
 * PostgreSQL database and a fleet file in a temp HYDRA_HOME. It can be SIGKILLed and started
 * again on the same home, database and streams (a power cut). Options put the node on another
 * Redis (the chaos tests' own server) and give it another DATABASE_URL (through a proxy).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { readNodeFile, type NodeFile } from '../../node/pidFile.js';
import type { ChildInfo } from '../../supervisor/types.js';
import { bearer, testApiToken } from '../helpers/apiTokens.js';
import { testDatabase, type TestDatabase } from '../helpers/postgres.js';
import { testRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { HYDRA } from '../node/nodeProcess.js';
import { alive } from '../supervisor/workers.js';

export interface PipelineNode {
  home: string;
  env: Record<string, string>;
  /** The node's own database (a direct pool, whatever DATABASE_URL the node was given). */
  db: TestDatabase;
  admin: () => string;
  /** A viewer API token on the node's database (what reading state and reports needs), and its header. */
  token: string;
  auth: { authorization: string };
  /** Base URL of a service instance (`ingest`, `state`, `report`) from the node's tree. */
  url(service: string): Promise<string>;
  pid(service: string): Promise<number>;
  tree(): Promise<ChildInfo>;
  /** SIGKILL the daemon (its children follow through their IPC link). */
  powerCut(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  output(): string;
}

export interface PipelineNodeOptions {
  /** The Redis the node uses (URL and key prefix) instead of a prefix on the shared test server. */
  redis?: { url: string; prefix: string };
  /** The DATABASE_URL the node gets, from its database's URL (say, the same through a proxy). */
  nodeDatabaseUrl?: (url: string) => string;
  /** More environment for the daemon and its services. */
  env?: Record<string, string>;
  /** When the node counts as up, from its services and its output so far; default: four services running, each with a port. */
  ready?: (services: ChildInfo[], output: string) => boolean;
}

export async function pipelineNode(t: Test, options: PipelineNodeOptions = {}): Promise<PipelineNode> {
  const redis = options.redis ?? (await testRedis(t));
  const db = await testDatabase(t);
  const { token } = await testApiToken(db.url, 'viewer');
  const home = mkdtempSync(path.join(os.tmpdir(), 'hydra-pipeline-'));
  const env: Record<string, string> = {
    HYDRA_HOME: home,
    HYDRA_NODE_ID: 'e2e',
    HYDRA_ADMIN_PORT: '0',
    HYDRA_SERVICE_PORT_BASE: String(20_000 + Math.floor(Math.random() * 120) * 100), // below the ephemeral range (32768+)
    REDIS_URL: redis.url,
    HYDRA_KEY_PREFIX: redis.prefix,
    DATABASE_URL: options.nodeDatabaseUrl?.(db.url) ?? db.url,
    ...options.env,
  };
  let proc: ChildProcess | null = null;
  let exit: Promise<void> = Promise.resolve();
  let out = '';
  let file: NodeFile | null = null;

  const node: PipelineNode = {
    home,
    env,
    db,
    token,
    auth: bearer(token),
    admin: () => file!.adminUrl,
    output: () => out,
    async tree() {
      const res = await fetch(`${file!.adminUrl}/admin/tree`);
      return ((await res.json()) as { tree: ChildInfo }).tree;
    },
    async url(service) {
      const info = await instance(node, service);
      return `http://127.0.0.1:${info.port}`;
    },
    async pid(service) {
      return (await instance(node, service)).pid!;
    },
    async start() {
      const p = spawn('env', ['-u', 'NODE_OPTIONS', HYDRA, 'node', 'start'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      proc = p;
      p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      exit = new Promise((resolve) => p.once('exit', () => resolve()));
      file = await waitFor(
        'the pipeline node to be up with four services running',
        async () => {
          if (p.exitCode !== null) throw new Error(`node exited with ${p.exitCode}:\n${out.slice(-4000)}`);
          const f = readNodeFile(home);
          if (!f || f.pid !== p.pid) return null;
          file = f;
          const tree = await node.tree().catch(() => null);
          const services = tree?.children?.find((c) => c.id === 'services')?.children ?? [];
          const up = options.ready ?? ((list: ChildInfo[]) => list.length === 4 && list.every((s) => s.state === 'running' && s.port));
          return up(services, out) ? f : null;
        },
        90_000,
        200,
      );
    },
    async powerCut() {
      const pids = [(proc?.pid ?? 0), ...(await allPids(node))];
      proc?.kill('SIGKILL');
      await exit;
      await waitFor('every process of the node gone', () => pids.every((pid) => !alive(pid)), 15_000);
    },
    async stop() {
      if (proc && alive(proc.pid)) {
        proc.kill('SIGTERM');
        await exit;
      }
    },
  };
  t.teardown(async () => {
    if (proc && alive(proc.pid)) proc.kill('SIGKILL');
    await exit;
  });
  return node;
}

async function instance(node: PipelineNode, service: string): Promise<ChildInfo> {
  const tree = await node.tree();
  const found = tree.children?.find((c) => c.id === 'services')?.children?.find((c) => c.id === `${service}#1`);
  if (!found || !found.port || !found.pid) throw new Error(`service ${service} is not running with a port: ${JSON.stringify(found)}`);
  return found;
}

async function allPids(node: PipelineNode): Promise<number[]> {
  const tree = await node.tree().catch(() => null);
  return (tree?.children?.find((c) => c.id === 'services')?.children ?? []).map((c) => c.pid ?? 0).filter(Boolean);
}
