/**
 * A server the test harness runs for the suite (PostgreSQL, Redis): spawned in its own process
 * group with its output in a log file, waited on until it answers, and stopped with a polite
 * signal, then SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export interface ServerProcess {
  pid: number;
  /** Resolves when it is gone (it may have exited by itself). */
  stop(): Promise<void>;
  /** True once the process has exited. */
  exited(): boolean;
  /** The end of its log, for an error message. */
  logTail(): string;
}

export interface ServerOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  cwd: string;
  /** Run as this user (PostgreSQL refuses root). */
  uid?: number;
  gid?: number;
  /** Its polite stop: SIGINT is PostgreSQL's fast shutdown; SIGTERM suits Redis. */
  stopSignal: NodeJS.Signals;
}

export function startServer(o: ServerOptions): ServerProcess {
  const log = openSync(o.logFile, 'a');
  let child: ChildProcess;
  try {
    // Its own process group: a Ctrl-C in the terminal reaches tap, whose tests still drop their
    // databases at teardown, and the harness stops the servers after that, not before.
    child = spawn(o.command, o.args, { cwd: o.cwd, stdio: ['ignore', log, log], detached: true, ...(o.uid !== undefined ? { uid: o.uid, gid: o.gid } : {}) });
  } finally {
    closeSync(log);
  }
  let gone = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => ((gone = true), resolve()));
    child.once('error', () => ((gone = true), resolve()));
  });
  return {
    pid: child.pid ?? 0,
    exited: () => gone,
    logTail: () => {
      try {
        return readFileSync(o.logFile, 'utf8').slice(-2_000);
      } catch {
        return '';
      }
    },
    async stop() {
      if (gone) return;
      child.kill(o.stopSignal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(killer);
    },
  };
}

/** Polls `probe` until it is true; throws naming the server (with its log) when it exits or the time is up. */
export async function waitReady(name: string, server: ServerProcess, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.exited()) throw new Error(`${name} exited while starting:\n${server.logTail()}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${name} did not answer within ${timeoutMs} ms:\n${server.logTail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
