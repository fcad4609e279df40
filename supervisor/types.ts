/**
 * Types of the supervision tree, after Erlang/OTP's supervisor: strategies, restart types,
 * shutdown, child specs, and the handle every kind of child (OS process, nested supervisor,
 * in-process task) presents to its supervisor.
 */

export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';

/** permanent: always restarted; transient: only after an abnormal exit; temporary: never. */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/** brutal_kill: SIGKILL at once; a number: SIGTERM, then SIGKILL after that many ms; infinity: wait (supervisors). */
export type Shutdown = 'brutal_kill' | 'infinity' | number;

export type ChildKind = 'worker' | 'supervisor';

export type ChildState = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'failed';

/** Why a child ended. `normal` is OTP's normal/shutdown: exit code 0, or stopped by its supervisor. */
export interface ExitReason {
  normal: boolean;
  code: number | null;
  signal: string | null;
  /** One line for people: 'exit code 1', 'killed by SIGKILL', 'no heartbeat for 5000 ms', 'reached_max_restart_intensity'. */
  reason: string;
  /** The stack of the error that ended it, when the child sent one (bounded: ipc.ts boundStack). */
  stack?: string;
}

/** Counters and health a child reports (over IPC for processes). */
export interface ChildStatus {
  healthy: boolean;
  detail?: string;
  counters: Record<string, number>;
}

/** A started child, as its supervisor sees it. */
export interface ChildHandle {
  readonly pid: number | null;
  /** The HTTP port the child said it serves on when it became ready, if any. */
  readonly port?: number | null;
  /** The version the child said it runs when it became ready (a service's manifest version). */
  readonly version?: string | null;
  /** Where its public HTTP routes are mounted (`/reports`), as it said when it became ready. */
  readonly mount?: string | null;
  /** Resolves once, when the child has ended for whatever reason (never rejects). */
  readonly exited: Promise<ExitReason>;
  /** Ends the child: brutal_kill, or ask/SIGTERM and wait up to `shutdown` ms, then SIGKILL. */
  stop(shutdown: Shutdown): Promise<ExitReason>;
  /** Latest health and counters, when the child reports them. */
  status(): ChildStatus | null;
  /** For nested supervisors: the subtree. */
  children?(): ChildInfo[];
}

export interface ChildSpec {
  /** Unique among its siblings; letters, digits, and `_ . @ # : -`. */
  id: string;
  /** Starts the child; resolves when it is ready, rejects when it fails to start. */
  start: () => Promise<ChildHandle>;
  restart?: RestartType;
  shutdown?: Shutdown;
  kind?: ChildKind;
  /** Shown in the tree and logs (service version, release). */
  version?: string;
}

export interface SupervisorFlags {
  strategy: Strategy;
  /** At most this many restarts within `periodMs`, else the supervisor gives up and fails to its parent. OTP default 1. */
  intensity: number;
  /** OTP default 5 s. */
  periodMs: number;
  /** Backoff before restarting a child that keeps failing: first restart at once, then doubling from `backoffInitialMs` to `backoffMaxMs`. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** A child up this long without failing has its backoff reset. */
  backoffResetMs?: number;
}

export interface SupervisorSpec extends SupervisorFlags {
  id: string;
  children: ChildSpec[];
}

/** One node of the tree as `/admin/tree` and `hydra node tree` show it. */
export interface ChildInfo {
  id: string;
  kind: ChildKind;
  pid: number | null;
  /** HTTP port of a running child that serves HTTP, else null. */
  port: number | null;
  state: ChildState;
  restarts: number;
  version: string | null;
  /** Mount point of a running child's public HTTP routes (what nginx proxies); absent otherwise. */
  mount?: string;
  restart: RestartType;
  /** Epoch ms of the current run's start, null when not running. */
  startedAt: number | null;
  uptimeMs: number | null;
  /** Most recent exit, if any. */
  lastExit: ExitReason | null;
  /** A parked child (failed, see SupervisorOptions.park): epoch ms of its next start. */
  retryAt?: number;
  status: ChildStatus | null;
  strategy?: Strategy;
  children?: ChildInfo[];
}

/** What a supervisor reports, with OTP's keys: supervisor, context, reason, offender. */
export interface SupervisorReport {
  supervisor: string;
  context: 'child_started' | 'child_terminated' | 'start_error' | 'restarting' | 'child_parked' | 'shutdown' | 'reached_max_restart_intensity' | 'shutdown_error';
  reason: string;
  offender: string | null;
  pid?: number | null;
  delayMs?: number;
}
