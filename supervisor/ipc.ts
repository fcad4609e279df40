/**
 * The messages between a supervised OS process and its supervisor, over Node's IPC channel.
 * Kept in one file so both ends agree; plain JSON objects tagged by `t`.
 */
import type { ChildStatus } from './types.js';

/** Child → supervisor. */
export type ChildMessage =
  /**
   * The child has started and may count as running. `port` when it serves HTTP; `mount` when
   * that HTTP has public routes (the path nginx proxies to it, e.g. `/reports`).
   */
  | { t: 'ready'; port?: number; version?: string; mount?: string }
  /** Liveness, every heartbeat interval, with the latest health and counters. */
  | { t: 'heartbeat'; status: ChildStatus }
  /** The child failed to start; it exits right after. `stack`: the error's, bounded (boundStack). */
  | { t: 'start_failed'; reason: string; stack?: string }
  /** The child is about to exit on an uncaught error; the supervisor keeps it as the exit's reason. */
  | { t: 'crashed'; reason: string; stack?: string };

/** Supervisor → child. */
export type SupervisorMessage =
  /** Drain: stop taking work, finish and acknowledge what is in hand, exit 0. */
  { t: 'stop' };

export function isChildMessage(m: unknown): m is ChildMessage {
  if (m === null || typeof m !== 'object') return false;
  const t = (m as { t?: unknown }).t;
  return t === 'ready' || t === 'heartbeat' || t === 'start_failed' || t === 'crashed';
}

/** At most this many characters of a stack travel and are kept: enough for the frames that matter. */
export const STACK_MAX_CHARS = 4_000;

/** A stack cut to STACK_MAX_CHARS, saying so when cut (a deep recursion must not fill the tree). */
export function boundStack(stack: string): string {
  return stack.length <= STACK_MAX_CHARS ? stack : `${stack.slice(0, STACK_MAX_CHARS)}\n    … (${stack.length - STACK_MAX_CHARS} more characters)`;
}

export function isSupervisorMessage(m: unknown): m is SupervisorMessage {
  return m !== null && typeof m === 'object' && (m as { t?: unknown }).t === 'stop';
}

/** Environment variables a supervised process receives. */
export const ENV = {
  /** Heartbeat interval the child must keep, in ms. */
  heartbeatMs: 'HYDRA_HEARTBEAT_MS',
  /** The child's id in its supervisor (stable across restarts: its consumer name). */
  childId: 'HYDRA_CHILD_ID',
  /** The HTTP port assigned to the child, when it serves HTTP. */
  port: 'HYDRA_PORT',
  /** The supervisor's pid: a child whose parent is no longer this one exits (childLink.ts). */
  supervisorPid: 'HYDRA_SUPERVISOR_PID',
} as const;
