/**
 * Restart latency against Node's own start-up, measured in the same run.
 *
 * - restart: a Supervisor (compiled, from dist/) runs one service instance (the compiled
 *   runtime on bench/fixtures/pingService.js); the instance is killed with SIGKILL, and we time
 *   kill → `child_started` (ready over IPC) and kill → first HTTP 200 from the new pid.
 * - linked restart: the same supervisor over a bare HTTP server that only links to it
 *   (bench/fixtures/linkedChild.js): supervision + Node start-up without the service runtime.
 * - cold start: a bare `node -e` HTTP server, spawn → first HTTP 200.
 *
 * Both HTTP timings poll the same way (a fresh connection every 2 ms), so their ratio is what
 * supervision and the runtime add on top of Node start-up (docs/architecture.md, Traps: ~65 ms on these machines).
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { SupervisorReport } from '../supervisor/types.js';
import { buildDist } from './build.js';
import { percentiles as stats, progress, table, writeResult } from './report.js';

const RUNS = 25;
const SERVICE_PORT = 29_100;
const BARE_PORT = 29_101;
const LINKED_PORT = 29_102;
const ROOT = new URL('../', import.meta.url);

const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One GET on a fresh connection: the status and body, or null when nothing answers yet. */
function get(port: number, path: string): Promise<{ status: number; body: string } | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve(null));
  });
}

/** Polls until a 200 whose body passes `accept`; returns the time it came. */
async function firstOk(port: number, path: string, accept: (body: string) => boolean = () => true): Promise<number> {
  for (;;) {
    const r = await get(port, path);
    if (r?.status === 200 && accept(r.body)) return now();
    await sleep(2);
  }
}

async function coldStarts(): Promise<number[]> {
  const script = `require('http').createServer((q, s) => s.end('ok')).listen(${BARE_PORT}, '127.0.0.1')`;
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = now();
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    out.push((await firstOk(BARE_PORT, '/')) - t0);
    child.kill('SIGKILL');
    await exited;
  }
  return out;
}

type ChildSpecT = import('../supervisor/types.js').ChildSpec;

/** Kills the supervisor's one child RUNS times; kill → ready (report) and kill → first 200 from a new pid. */
async function restarts(child: ChildSpecT, port: number, path: string): Promise<{ ready: number[]; http: number[] }> {
  // The compiled supervisor: what a node runs.
  const { Supervisor } = (await import(new URL('dist/supervisor/supervisor.js', ROOT).href)) as typeof import('../supervisor/supervisor.js');
  let onStarted: ((pid: number) => void) | null = null;
  const onReport = (r: SupervisorReport) => {
    if (r.context === 'child_started' && typeof r.pid === 'number') onStarted?.(r.pid);
  };
  // Every kill is a crash: allow them all, and let the backoff reset between kills (each kill
  // then measures a first, immediate restart, as for a service that rarely fails).
  const sup = new Supervisor({ id: 'bench', strategy: 'one_for_one', intensity: RUNS * 2, periodMs: 60_000, backoffResetMs: 100, children: [child] }, { onReport });
  await sup.start();
  const ready: number[] = [];
  const httpMs: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      await sleep(150); // past backoffResetMs
      const pid = sup.whichChildren()[0]!.pid!;
      const started = new Promise<number>((resolve) => (onStarted = resolve));
      const t0 = now();
      process.kill(pid, 'SIGKILL');
      const answered = firstOk(port, path, (body) => (JSON.parse(body) as { pid: number }).pid !== pid);
      const newPid = await started;
      ready.push(now() - t0);
      httpMs.push((await answered) - t0);
      if (newPid === pid) throw new Error('the child came back with the same pid');
    }
  } finally {
    await sup.stop();
  }
  return { ready, http: httpMs };
}

async function serviceRestarts(): Promise<{ ready: number[]; http: number[] }> {
  const { serviceChildSpec } = (await import(new URL('dist/runtime/serviceChild.js', ROOT).href)) as typeof import('../runtime/serviceChild.js');
  const child = serviceChildSpec({
    id: 'ping#1',
    module: fileURLToPath(new URL('bench/fixtures/pingService.js', ROOT)),
    port: SERVICE_PORT,
    env: { HYDRA_KEY_PREFIX: `hydra-bench:${process.pid}:`, HYDRA_LOG_LEVEL: 'warn' },
    output: () => undefined,
  });
  return restarts(child, SERVICE_PORT, '/ping/');
}

async function linkedRestarts(): Promise<{ ready: number[]; http: number[] }> {
  const { processChild } = (await import(new URL('dist/supervisor/processChild.js', ROOT).href)) as typeof import('../supervisor/processChild.js');
  const start = processChild({ id: 'linked', module: fileURLToPath(new URL('bench/fixtures/linkedChild.js', ROOT)), env: { HYDRA_PORT: String(LINKED_PORT) }, output: () => undefined });
  return restarts({ id: 'linked', start }, LINKED_PORT, '/');
}

export async function benchRestart(): Promise<unknown> {
  buildDist();
  const cold = stats(await coldStarts());
  progress(`cold start (bare node -e, spawn → first HTTP 200): median ${cold.median} ms, p95 ${cold.p95} ms (${RUNS} runs)`);
  const l = await linkedRestarts();
  const linked = stats(l.http);
  progress(`restart of a bare linked child (SIGKILL → first HTTP 200, no service runtime): median ${linked.median} ms, p95 ${linked.p95} ms`);
  const r = await serviceRestarts();
  const ready = stats(r.ready);
  const first = stats(r.http);
  progress(`restart of a service (SIGKILL → ready over IPC): median ${ready.median} ms, p95 ${ready.p95} ms (${RUNS} runs)`);
  progress(`restart of a service (SIGKILL → first HTTP 200 from the new pid): median ${first.median} ms, p95 ${first.p95} ms`);
  const ratio = Math.round((first.median / cold.median) * 100) / 100;
  progress(`ratio service restart / bare cold start (medians, to first HTTP 200): ${ratio}x`);
  process.stdout.write(
    `\n${table(['measurement (to first HTTP 200 unless noted)', 'median ms', 'p95 ms', 'runs'], [
      ['cold start, bare node -e', cold.median.toFixed(1), cold.p95.toFixed(1), RUNS],
      ['restart, bare linked child', linked.median.toFixed(1), linked.p95.toFixed(1), RUNS],
      ['restart, service → ready (IPC)', ready.median.toFixed(1), ready.p95.toFixed(1), RUNS],
      ['restart, service', first.median.toFixed(1), first.p95.toFixed(1), RUNS],
    ])}\n`,
  );
  const file = writeResult('restart', { runs: RUNS, coldStartMs: cold, linkedRestartHttpMs: linked, restartReadyMs: ready, restartHttpMs: first, ratioMedianHttp: ratio });
  process.stdout.write(`\nwrote ${file}\n`);
  return { cold, linked, ready, first, ratio };
}
