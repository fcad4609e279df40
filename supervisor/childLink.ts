/**
 * The child's end of the link to its supervisor: say ready, heartbeat, obey stop, and die with
 * the supervisor. Like a linked Erlang process, a child whose supervisor is gone (even killed
 * with SIGKILL, which runs no cleanup) notices the IPC channel closing and exits at once, so no
 * orphan is left. Lean on purpose: every service process loads it at start.
 */
import { HEARTBEAT_MS } from './defaults.js';
import { ENV, isSupervisorMessage, type ChildMessage } from './ipc.js';
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
  startFailed(reason: string): void;
}

/** Exit code of a child whose supervisor vanished (not 0: it did not finish its work). */
export const EXIT_SUPERVISOR_GONE = 70;

export function linkToSupervisor(options: ChildLinkOptions): ChildLink {
  const supervised = typeof process.send === 'function' && process.connected;
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
    process.on('disconnect', () => process.exit(EXIT_SUPERVISOR_GONE));
    const every = Number(process.env[ENV.heartbeatMs] ?? HEARTBEAT_MS);
    // unref: the heartbeat alone must not keep a finished child alive.
    setInterval(() => send({ t: 'heartbeat', status: options.status() }), every).unref();
  }
  return {
    supervised,
    ready: (info = {}) => send({ t: 'ready', ...info }),
    startFailed: (reason) => send({ t: 'start_failed', reason }),
  };
}
