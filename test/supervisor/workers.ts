/** Test helpers: child specs for the worker fixture, and process checks. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { processChild } from '../../supervisor/processChild.js';
import type { ChildSpec, SupervisorReport } from '../../supervisor/types.js';
import { waitFor } from '../helpers/wait.js';

const WORKER = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

export interface WorkerOptions extends Partial<Omit<ChildSpec, 'id' | 'start'>> {
  env?: Record<string, string>;
  startTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
}

export function worker(id: string, o: WorkerOptions = {}): ChildSpec {
  const { env, startTimeoutMs, heartbeatTimeoutMs, ...spec } = o;
  return {
    id,
    ...spec,
    start: processChild({
      id,
      module: WORKER,
      nodeArgs: ['--import', 'tsx'],
      env: env ?? {},
      startTimeoutMs: startTimeoutMs ?? 15_000,
      heartbeatMs: 100,
      heartbeatTimeoutMs: heartbeatTimeoutMs ?? 3_000,
      output: () => undefined,
    }),
  };
}

export function alive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Running, not a zombie waiting for a parent that does not reap it (Linux /proc). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export async function waitGone(pids: Array<number | null>, timeoutMs = 10_000): Promise<void> {
  await waitFor(`processes ${pids.join(',')} gone`, () => pids.every((p) => !alive(p)), timeoutMs);
}

export function readLog(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Collects reports for assertions. */
export function reports(): { list: SupervisorReport[]; onReport: (r: SupervisorReport) => void } {
  const list: SupervisorReport[] = [];
  return { list, onReport: (r) => list.push(r) };
}
