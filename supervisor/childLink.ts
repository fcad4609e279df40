/**
 * The child's end of the link to its supervisor: say ready, heartbeat, obey stop, and die with
 * the supervisor. Like a linked Erlang process, a child whose supervisor is gone (even killed
 * with SIGKILL, which runs no cleanup) exits at once, so no orphan is left, whatever the moment
 * of the kill. Three checks, because each alone has a gap:
 * - the IPC channel's `disconnect` event, for a supervisor that dies after the link is made;
 * - `process.connected` when the link is made: a supervisor killed while this process was still
 *   loading closed the channel before any listener existed, and that event is not replayed;
 * - the parent pid the supervisor passed (HYDRA_SUPERVISOR_PID), watched every second, in case
 *   the channel outlives its owner (a re-parented child has another ppid).
 * Lean on purpose: every service process loads it at start.
 */
import { HEARTBEAT_MS } from './defaults.js';
import { boundStack, ENV, isSupervisorMessage, type ChildMessage } from './ipc.js';
import type { ChildStatus } from './types.js';

export interface ChildLinkOptions {
  /** Called on the supervisor's `stop` (drain) and on SIGTERM; the child exits 0 after it resolves. */
  onStop: () => Promise<void> | void;
  /** Latest health and counters for each heartbeat. */
  status: () => ChildStatus;
}

export interface ChildLink {
  /** Whether a supervisor is at the other end (false when run by hand). */
  readonly supervised: boolean;
  ready(info?: { port?: number; version?: string; mount?: string }): void;
  startFailed(reason: string, stack?: string): void;
  /** Tells the supervisor why this process is about to crash (the stack shown in the tree). */
  crashed(reason: string, stack?: string): void;
}

/** Exit code of a child whose supervisor vanished (not 0: it did not finish its work). */
export const EXIT_SUPERVISOR_GONE = 70;

/** How often the parent pid is compared with the supervisor's. */
const PARENT_CHECK_MS = 1_000;

export function linkToSupervisor(options: ChildLinkOptions): ChildLink {
  // Started with an IPC channel: a supervisor started us, whether or not it is still there.
  const supervised = typeof process.send === 'function';
  if (supervised && !process.connected) supervisorGone('its IPC channel closed before the process had started');
  const send = (msg: ChildMessage) => {
    if (process.connected) process.send!(msg, undefined, {}, () => undefined);
  };
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    Promise.resolve()
      .then(options.onStop)
      .then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`${JSON.stringify({ level: 'error', msg: 'stop failed', err: String(err) })}\n`);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  if (supervised) {
    process.on('message', (m) => {
      if (isSupervisorMessage(m) && m.t === 'stop') stop();
    });
    process.on('disconnect', () => supervisorGone('its IPC channel closed'));
    watchParent();
    const every = Number(process.env[ENV.heartbeatMs] ?? HEARTBEAT_MS);
    // unref: the heartbeat alone must not keep a finished child alive.
    setInterval(() => send({ t: 'heartbeat', status: options.status() }), every).unref();
  }
  return {
    supervised,
    ready: (info = {}) => send({ t: 'ready', ...info }),
    startFailed: (reason, stack) => send({ t: 'start_failed', reason, ...(stack ? { stack: boundStack(stack) } : {}) }),
    crashed: (reason, stack) => send({ t: 'crashed', reason, ...(stack ? { stack: boundStack(stack) } : {}) }),
  };
}

function supervisorGone(why: string): never {
  process.stderr.write(`${JSON.stringify({ level: 'error', msg: 'supervisor gone; exiting', why, pid: process.pid })}\n`);
  process.exit(EXIT_SUPERVISOR_GONE);
}

function watchParent(): void {
  const expected = Number(process.env[ENV.supervisorPid]);
  if (!Number.isInteger(expected) || expected <= 0) return;
  const check = () => {
    if (process.ppid !== expected) supervisorGone(`its parent ${expected} is gone (parent now ${process.ppid})`);
  };
  check();
  // unref: the watch alone must not keep a finished child alive.
  setInterval(check, PARENT_CHECK_MS).unref();
}

