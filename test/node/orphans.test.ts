/**
 * No service process outlives its node daemon: the daemon is SIGKILLed at 20 random moments of
 * its start-up and of its shutdown, and each time no process of that node (HYDRA_HOME in its
 * environment) is left. And a starting daemon stops what a previous one of the same home left
 * behind (its pid files, checked against the process's environment), never a foreign process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { readNodeFile } from '../../node/pidFile.js';
import { testRedis } from '../helpers/redis.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { running } from '../supervisor/workers.js';
import { FIXTURES, HYDRA, tempHome } from './nodeProcess.js';

// 20 daemon starts on a busy machine.
t.setTimeout(300_000);

/** A light service (plain JS, no tsx) so each of the 20 starts is short. */
const light = (id: string, instances: number) => ({ id, module: path.join(FIXTURES, 'light.mjs'), instances, startTimeoutMs: 20_000 });

/** Pids of live (non-zombie) processes whose environment names this HYDRA_HOME. */
function processesOf(home: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').includes(`HYDRA_HOME=${home}`) && running(Number(name))) pids.push(Number(name));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}

async function healthy(home: string): Promise<boolean> {
  const f = readNodeFile(home);
  const res = f ? await fetch(`${f.adminUrl}/healthz`).catch(() => null) : null;
  return res?.status === 200;
}

function describe(pids: number[]): string {
  return pids.map((p) => { try { return `${p}: ${readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`; } catch { return String(p); } }).join('\n');
}

t.test('SIGKILL of the daemon at 20 random moments of start-up and shutdown leaves no process of the node', async (t) => {
  const redis = await testRedis(t);
  const home = tempHome();
  const topology = { services: [light('a', 2), light('b', 1)] };
  writeFileSync(path.join(home, 'topology.json'), JSON.stringify(topology));
  const env = {
    ...process.env,
    HYDRA_HOME: home,
    HYDRA_NODE_ID: 'orphan-node',
    HYDRA_ADMIN_PORT: '0',
    HYDRA_SERVICE_PORT_BASE: String(20_000 + Math.floor(Math.random() * 120) * 100),
    REDIS_URL: redis.url,
    HYDRA_KEY_PREFIX: redis.prefix,
  };
  let daemon: ChildProcess | null = null;
  t.teardown(() => {
    if (daemon?.exitCode === null) daemon.kill('SIGKILL');
    for (const pid of processesOf(home)) process.kill(pid, 'SIGKILL');
  });
  // Start-up of this topology on this machine, to place the kills across all of it.
  let startupMs = 1_500;
  for (let i = 0; i < 20; i++) {
    const duringStart = i % 2 === 0;
    const proc = spawn('env', ['-u', 'NODE_OPTIONS', HYDRA, 'node', 'start'], { env, stdio: 'ignore' });
    daemon = proc;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const t0 = Date.now();
    let moment: string;
    if (duringStart) {
      const delay = Math.floor(Math.random() * startupMs);
      await Promise.race([sleep(delay), exited]);
      moment = `${delay} ms into start-up`;
    } else {
      await waitFor('the node to be healthy', () => healthy(home), 60_000, 50);
      startupMs = Math.max(startupMs, Date.now() - t0);
      proc.kill('SIGTERM');
      const delay = Math.floor(Math.random() * 1_500);
      await Promise.race([sleep(delay), exited]);
      moment = `${delay} ms into shutdown`;
    }
    proc.kill('SIGKILL');
    await exited;
    // The children learn of it at once (IPC closed) or within a second (parent pid watch); a
    // child still loading learns it when it links.
    const left = await waitFor('no process of the node', () => (processesOf(home).length === 0 ? true : null), 15_000, 50).then(
      () => [],
      () => processesOf(home),
    );
    t.same(left, [], `kill ${i + 1} (${moment}): no process of the node left${left.length ? `:\n${describe(left)}` : ''}`);
    if (left.length > 0) for (const pid of left) process.kill(pid, 'SIGKILL');
  }
});

t.test('a starting daemon stops the leftovers of a previous one of its home, and nothing foreign', async (t) => {
  const home = tempHome();
  const keepAlive = 'setInterval(() => {}, 1 << 30)';
  // A leftover: an instance of this home (as a SIGKILLed daemon's child whose link failed would be).
  const leftover = spawn(process.execPath, ['-e', keepAlive], { env: { ...process.env, NODE_OPTIONS: '', HYDRA_HOME: home, HYDRA_CHILD_ID: 'ping#1' }, stdio: 'ignore', detached: true });
  // Foreign: a pid file points at it, but its environment is not that instance's.
  const foreign = spawn(process.execPath, ['-e', keepAlive], { env: { ...process.env, NODE_OPTIONS: '', HYDRA_HOME: '/elsewhere', HYDRA_CHILD_ID: 'ping#2' }, stdio: 'ignore', detached: true });
  t.teardown(() => {
    for (const p of [leftover, foreign]) if (running(p.pid!)) p.kill('SIGKILL');
  });
  const dir = path.join(home, 'run', 'instances');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${encodeURIComponent('ping#1')}.pid`), `${leftover.pid}\n`);
  writeFileSync(path.join(dir, `${encodeURIComponent('ping#2')}.pid`), `${foreign.pid}\n`);
  await waitFor('both stand-ins to run', () => running(leftover.pid!) && running(foreign.pid!));

  const redis = await testRedis(t);
  writeFileSync(path.join(home, 'topology.json'), JSON.stringify({ services: [light('ping', 2)] }));
  const env = { ...process.env, HYDRA_HOME: home, HYDRA_NODE_ID: 'leftover-node', HYDRA_ADMIN_PORT: '0', HYDRA_SERVICE_PORT_BASE: String(20_000 + Math.floor(Math.random() * 120) * 100), REDIS_URL: redis.url, HYDRA_KEY_PREFIX: redis.prefix };
  let out = '';
  const daemon = spawn('env', ['-u', 'NODE_OPTIONS', HYDRA, 'node', 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  daemon.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
  t.teardown(async () => {
    daemon.kill('SIGTERM');
    await exited;
  });
  await waitFor('the node to be healthy', () => healthy(home), 60_000, 50);
  t.notOk(running(leftover.pid!), 'the leftover of this home was stopped before the node started');
  t.ok(running(foreign.pid!), 'the foreign process was left alone');
  t.match(out, /left behind/, 'the daemon logged what it stopped');
  const files = readdirSync(dir).sort();
  t.same(files, [`${encodeURIComponent('ping#1')}.pid`, `${encodeURIComponent('ping#2')}.pid`], "the node's own instances have pid files");
  for (const f of files) t.ok(running(Number(readFileSync(path.join(dir, f), 'utf8'))), `${f} names a running instance`);
});
