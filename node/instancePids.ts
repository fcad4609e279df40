/**
 * `$HYDRA_HOME/run/instances/<child id>.pid`: one pid file per service process of this node,
 * written when the process is spawned and removed when it exits. A daemon killed with SIGKILL
 * removes nothing, so the next daemon of the same home reads what is left and stops those
 * processes before it binds anything (a leftover holding a service's port would fail every later
 * start with EADDRINUSE).
 *
 * Nothing foreign is killed: a pid is only signalled when /proc/<pid>/environ shows it is a
 * service process of THIS home (HYDRA_HOME) and of that child id (HYDRA_CHILD_ID). A pid reused
 * by an unrelated process fails the check, and so does every process where /proc is missing.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../core/log.js';
import { isAlive } from './pidFile.js';

export function instancePidDir(home: string): string {
  return path.join(home, 'run', 'instances');
}

function pidFile(home: string, childId: string): string {
  return path.join(instancePidDir(home), `${encodeURIComponent(childId)}.pid`);
}

/** Records a spawned service process. */
export function recordInstancePid(home: string, childId: string, pid: number): void {
  mkdirSync(instancePidDir(home), { recursive: true });
  writeFileSync(pidFile(home, childId), `${pid}\n`);
}

/** Forgets it once it has exited (only if the file still names this pid: a restart may have written a newer one). */
export function forgetInstancePid(home: string, childId: string, pid: number): void {
  const file = pidFile(home, childId);
  try {
    if (Number(readFileSync(file, 'utf8').trim()) === pid) rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}

/** The environment of a process, or null when it cannot be read (gone, not ours, no /proc). */
function environOf(pid: number): Map<string, string> | null {
  try {
    const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return new Map(entries.filter((e) => e.includes('=')).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  } catch {
    return null;
  }
}

/** Whether `pid` is the service process `childId` of the node at `home`. */
export function isInstanceOf(pid: number, home: string, childId: string): boolean {
  const env = environOf(pid);
  return env !== null && env.get('HYDRA_HOME') === home && env.get('HYDRA_CHILD_ID') === childId;
}

export interface Leftover {
  childId: string;
  pid: number;
}

/**
 * Stops the service processes a previous daemon of this home left behind: SIGTERM (they drain),
 * SIGKILL after `graceMs`; resolves once they are gone, with what was found. Stale pid files
 * (dead or foreign pids) are removed without signalling anything.
 */
export async function stopLeftovers(home: string, log: Logger, graceMs = 3_000): Promise<Leftover[]> {
  let names: string[];
  try {
    names = readdirSync(instancePidDir(home)).filter((n) => n.endsWith('.pid'));
  } catch {
    return [];
  }
  const found: Leftover[] = [];
  for (const name of names) {
    const childId = decodeURIComponent(name.slice(0, -'.pid'.length));
    const file = path.join(instancePidDir(home), name);
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isInstanceOf(pid, home, childId)) found.push({ childId, pid });
    rmSync(file, { force: true });
  }
  if (found.length === 0) return found;
  log.warn('stopping service processes a previous daemon of this home left behind', { leftovers: found });
  // A zombie passes kill(0) but has an empty environ: checked through isInstanceOf, it is gone.
  const running = (l: Leftover) => isAlive(l.pid) && isInstanceOf(l.pid, home, l.childId);
  for (const { pid } of found) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (found.some(running) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const l of found) if (running(l)) signal(l.pid, 'SIGKILL');
  while (found.some(running)) await new Promise((r) => setTimeout(r, 20));
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone meanwhile.
  }
}

/**
 * The spawn/exit hooks of a service child that keep its pid file; none when the instance
 * environment names no HYDRA_HOME (a supervisor run outside a node).
 */
export function instancePidHooks(env: Record<string, string>, childId: string): { onSpawn?: (pid: number) => void; onExit?: (pid: number) => void } {
  const home = env.HYDRA_HOME;
  if (!home) return {};
  return { onSpawn: (pid) => recordInstancePid(home, childId, pid), onExit: (pid) => forgetInstancePid(home, childId, pid) };
}
