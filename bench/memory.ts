/**
 * `npm run bench -- memory`: resident memory (RSS, from /proc) of the node daemon and of each
 * service instance of the reference pipeline, idle and under a steady simulator load, next to a
 * bare `node -e` HTTP server measured in the same run (the floor any Node process pays).
 * Writes bench/results/memory.json.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { makeFleet, Simulator } from '../services/simulator/simulator.js';
import { writeFleet } from '../services/packet/fleet.js';
import { buildDist } from './build.js';
import { startBenchNode } from './pipelineNode.js';
import { percentiles, progress, table, writeResult } from './report.js';

const LOAD_MS = 15_000;
const RATE = 300;
const SAMPLE_MS = 500;

/** RSS of a process in MiB (VmRSS), or null when it is gone. */
export function rssMiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function bareNodeRss(): Promise<number> {
  const child = spawn(process.execPath, ['-e', "require('http').createServer((q,s)=>s.end('ok')).listen(0,'127.0.0.1')"], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1_000));
  const rss = rssMiB(child.pid!) ?? 0;
  child.kill('SIGKILL');
  return rss;
}

export async function benchMemory(): Promise<unknown> {
  buildDist();
  const fleet = makeFleet({ sites: 2, unitsPerSite: 3, detonatorsPerUnit: 8, seed: 11 });
  const node = await startBenchNode((file) => writeFleet(file, fleet));
  try {
    const tree = await node.tree();
    const services = (tree.children?.find((c) => c.id === 'services')?.children ?? []).map((c) => ({ id: c.id, pid: c.pid! }));
    const procs = [{ id: 'daemon', pid: node.daemonPid }, ...services];
    await new Promise((r) => setTimeout(r, 1_000));
    const idle = Object.fromEntries(procs.map((p) => [p.id, rssMiB(p.pid) ?? 0]));
    progress(`idle RSS: ${procs.map((p) => `${p.id} ${idle[p.id]!.toFixed(1)} MiB`).join(', ')}`);
    const samples = new Map<string, number[]>(procs.map((p) => [p.id, []]));
    const timer = setInterval(() => {
      for (const p of procs) {
        const v = rssMiB(p.pid);
        if (v !== null) samples.get(p.id)!.push(v);
      }
    }, SAMPLE_MS);
    progress(`load: ${RATE} frames/s for ${LOAD_MS / 1000} s, RSS sampled every ${SAMPLE_MS} ms`);
    const sim = new Simulator({ fleet, seed: 5, replayRate: 0, reorderRate: 0 });
    const stats = await sim.run({ url: `http://127.0.0.1:${node.port('ingest')}`, rate: RATE, durationMs: LOAD_MS });
    clearInterval(timer);
    const bare = await bareNodeRss();
    const rows = procs.map((p) => {
      const s = percentiles(samples.get(p.id)!.length > 0 ? samples.get(p.id)! : [0], false);
      return { process: p.id, idleMiB: round(idle[p.id]!), loadMedianMiB: round(s.median), loadMaxMiB: round(s.max), toBareNode: round(s.max / bare) };
    });
    const total = round(rows.reduce((n, r) => n + r.loadMaxMiB, 0));
    process.stdout.write(
      `\n${table(
        ['process', 'idle MiB', 'under load p50 MiB', 'under load max MiB', 'max / bare node'],
        [...rows.map((r) => [r.process, r.idleMiB.toFixed(1), r.loadMedianMiB.toFixed(1), r.loadMaxMiB.toFixed(1), `${r.toBareNode.toFixed(2)}x`]), ['bare `node -e` HTTP server', bare.toFixed(1), '', '', '1.00x'], ['node total (daemon + services), max', '', '', total.toFixed(1), '']],
      )}\n`,
    );
    progress(`frames accepted ${stats.accepted} of ${stats.sent}`);
    const file = writeResult('memory', { rate: RATE, loadMs: LOAD_MS, bareNodeMiB: round(bare), processes: rows, totalMaxMiB: total });
    progress(`wrote ${file}`);
    return { rows, bare, total };
  } finally {
    await node.close();
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
