/**
 * `$HYDRA_HOME/run/node.json`: how the other CLI commands find a running node ({pid, adminUrl,
 * nodeId, startedAt}). Written atomically (temp file + rename) so a reader never sees half a
 * file; removed on exit only by the daemon that wrote it, so a stopping daemon cannot delete the
 * file of a newer one.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface NodeFile {
  pid: number;
  adminUrl: string;
  nodeId: string;
  /** ISO time the daemon started. */
  startedAt: string;
}

export function nodeFilePath(home: string): string {
  return path.join(home, 'run', 'node.json');
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The node file, or null when there is none or it cannot be read as one. */
export function readNodeFile(home: string): NodeFile | null {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(nodeFilePath(home), 'utf8'));
  } catch {
    return null;
  }
  const f = raw as Partial<NodeFile> | null;
  if (!f || typeof f.pid !== 'number' || typeof f.adminUrl !== 'string' || typeof f.nodeId !== 'string' || typeof f.startedAt !== 'string') return null;
  return { pid: f.pid, adminUrl: f.adminUrl, nodeId: f.nodeId, startedAt: f.startedAt };
}

export function writeNodeFile(home: string, file: NodeFile): void {
  const target = nodeFilePath(home);
  mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`);
  renameSync(tmp, target);
}

/** Removes the node file if it is this process's. */
export function removeNodeFile(home: string, pid = process.pid): void {
  if (readNodeFile(home)?.pid === pid) rmSync(nodeFilePath(home), { force: true });
}

/** A node already running from this home, or null (a file left by a dead daemon does not count). */
export function runningNode(home: string): NodeFile | null {
  const file = readNodeFile(home);
  return file && file.pid !== process.pid && isAlive(file.pid) ? file : null;
}
