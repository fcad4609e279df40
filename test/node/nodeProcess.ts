/**
 * Test helpers: run the built `bin/hydra` as a user would (through env(1) without tap's
 * NODE_OPTIONS loader, which cannot load the extensionless ESM bin), a node daemon in a temp
 * HYDRA_HOME with a topology of fixture services, and the CLI against it.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import { readNodeFile, type NodeFile } from '../../node/pidFile.js';
import { testRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { alive } from '../supervisor/workers.js';

export const HYDRA = fileURLToPath(new URL('../../bin/hydra', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function hydra(env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)('env', ['-u', 'NODE_OPTIONS', HYDRA, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A temp HYDRA_HOME for one test. */
export function tempHome(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'hydra-node-'));
}

export interface RunningNode {
  proc: ChildProcess;
  home: string;
  env: Record<string, string>;
  file: NodeFile;
  /** Everything the daemon wrote (JSON log lines on stdout, progress on stderr). */
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  cli: (...args: string[]) => Promise<CliResult>;
}

/** A fixture service (ping, echo) run from TypeScript: the built runtime imports it under tsx. */
export function fixtureService(id: string, fixture: string, more: object = {}): object {
  return { id, module: path.join(FIXTURES, `${fixture}.ts`), nodeArgs: ['--import', 'tsx'], heartbeatTimeoutMs: 10_000, startTimeoutMs: 20_000, ...more };
}

/** Starts `hydra node start` with this topology (and `moreEnv`); waits until its admin answers /healthz with 200. */
export async function startNode(t: Test, topology: object, moreEnv: Record<string, string> = {}): Promise<RunningNode> {
  const redis = await testRedis(t);
  const home = tempHome();
  writeFileSync(path.join(home, 'topology.json'), JSON.stringify(topology));
  const env = {
    HYDRA_HOME: home,
    HYDRA_NODE_ID: 'test-node',
    HYDRA_ADMIN_PORT: '0',
    // Spread so parallel test files do not collide on service ports.
    HYDRA_SERVICE_PORT_BASE: String(20_000 + Math.floor(Math.random() * 120) * 100), // below the ephemeral range (32768+)
    REDIS_URL: redis.url,
    HYDRA_KEY_PREFIX: redis.prefix,
    ...moreEnv,
  };
  let out = '';
  const proc = spawn('env', ['-u', 'NODE_OPTIONS', HYDRA, 'node', 'start'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(async () => {
    if (alive(proc.pid)) proc.kill('SIGKILL');
    await exit;
  });
  const file = await waitFor(
    'the node to be healthy',
    async () => {
      if (proc.exitCode !== null) throw new Error(`node exited with ${proc.exitCode} before it was healthy:\n${out}`);
      const f = readNodeFile(home);
      if (!f) return null;
      const res = await fetch(`${f.adminUrl}/healthz`).catch(() => null);
      return res?.status === 200 ? f : null;
    },
    60_000,
    100,
  );
  return { proc, home, env, file, output: () => out, exit, cli: (...args) => hydra(env, ...args) };
}

export async function getJson<T>(url: string, method = 'GET'): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { method });
  return { status: res.status, body: (await res.json()) as T };
}
