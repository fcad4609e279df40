/**
 * A supervisor with Erlang/OTP semantics (supervisor.erl), over any children that present a
 * ChildHandle: OS processes, in-process tasks, nested supervisors.
 *
 * Sections, in OTP's order: types → API → start → restart (one function per strategy) →
 * terminate → restart-intensity window. Every operation runs on one queue, as OTP's supervisor
 * is one process handling one message at a time: exits, restarts and operator commands never
 * interleave, and every call that reads or changes the children (start, terminate, delete,
 * restart) looks its child up on that queue, so it sees what the operations before it left.
 * A backoff wait is a timer, not a sleep on the queue (OTP's delayed restart message): calls are
 * served while a child waits to be restarted, and a terminate during the wait cancels it.
 *
 * Refusals are typed errors (NoSuchChild, ChildRunning; see errors.ts), OTP's `{error, Reason}`
 * as rejections.
 */
import { ChildRunning, NoSuchChild, StartError } from './errors.js';
import { backoff } from '../core/backoff.js';
import { backoffDelay, RestartWindow } from './restartWindow.js';
import type { ChildHandle, ChildInfo, ChildSpec, ChildState, ChildStatus, ExitReason, Shutdown, SupervisorFlags, SupervisorReport, SupervisorSpec } from './types.js';
import { validateChildSpec, validateSupervisorSpec, type ValidChildSpec } from './validateSpec.js';

// ---- types ---------------------------------------------------------------------------------

export interface SupervisorOptions {
  /** Every report (child started, terminated, restarting, gave up…), with OTP's keys. */
  onReport?: (report: SupervisorReport) => void;
  /**
   * Parking, for a supervisor of independent services (the node's `services`), not OTP: a child
   * that fails to start, or exits abnormally `crashLimit` times in a row, is parked (left
   * 'failed' with its reason, started again after a backoff from core/backoff.ts, doubling from
   * backoffMinMs to backoffMaxMs) instead of counting toward the restart intensity. So one bad
   * child never fails the supervisor's start, never uses up its intensity, and never has its
   * siblings restarted or stopped. Nested supervisors get no parking unless given it: inside a
   * service's own subtree OTP's semantics hold.
   */
  park?: ParkPolicy;
}

export interface ParkPolicy {
  crashLimit: number;
  backoffMinMs: number;
  backoffMaxMs: number;
}

interface ChildRecord {
  spec: ValidChildSpec;
  handle: ChildHandle | null;
  state: ChildState;
  restarts: number;
  startedAt: number | null;
  lastExit: ExitReason | null;
  /** Failures in a row, for the backoff. */
  failures: number;
  /** Bumped at each start, so the exit of an earlier run is recognised as stale. */
  run: number;
  /** The restart this child waits for, while it waits out its backoff (state 'restarting', or 'failed' when parked). */
  pending: PendingRestart | null;
  /** Times parked in a row, for the parking backoff. */
  parks: number;
  /** Epoch ms of a parked child's next start. */
  retryAt: number | null;
}

/** Children to start again once the backoff timer fires; a child leaves it when terminated meanwhile. */
interface PendingRestart {
  timer: NodeJS.Timeout;
  group: ChildRecord[];
}

const SHUTDOWN: ExitReason = { normal: true, code: null, signal: null, reason: 'shutdown' };

export class Supervisor implements ChildHandle {
  readonly id: string;
  readonly pid = process.pid;
  readonly exited: Promise<ExitReason>;
  private readonly flags: Required<SupervisorFlags>;
  private readonly records: ChildRecord[] = [];
  private readonly window: RestartWindow;
  private queue: Promise<unknown> = Promise.resolve();
  private state: ChildState = 'starting';
  private startedAt: number | null = null;
  private finish!: (reason: ExitReason) => void;

  // ---- API ---------------------------------------------------------------------------------

  constructor(
    spec: SupervisorSpec,
    private readonly options: SupervisorOptions = {},
  ) {
    const valid = validateSupervisorSpec(spec);
    this.id = valid.id;
    this.flags = valid.flags;
    this.window = new RestartWindow(this.flags.intensity, this.flags.periodMs);
    for (const child of valid.children) this.records.push(newRecord(child));
    this.exited = new Promise((resolve) => (this.finish = resolve));
  }

  /** Starts the children in order; when one fails, stops those started, in reverse, and rejects. */
  start(): Promise<void> {
    return this.enqueue(async () => {
      for (const rec of this.records) {
        try {
          await this.startChildRecord(rec);
        } catch (err) {
          if (this.options.park) {
            this.park(rec);
            continue;
          }
          await this.terminateAll();
          this.state = 'failed';
          this.finish({ normal: false, code: null, signal: null, reason: `start failed: ${(err as Error).message}` });
          throw err;
        }
      }
      this.state = 'running';
      this.startedAt = Date.now();
    });
  }

  /** Stops the children in reverse start order, then resolves `exited` as a normal shutdown. */
  stop(_shutdown: Shutdown = 'infinity'): Promise<ExitReason> {
    void this.enqueue(async () => {
      if (this.state === 'stopped' || this.state === 'failed') return;
      this.state = 'stopping';
      await this.terminateAll();
      this.state = 'stopped';
      this.report('shutdown', 'shutdown', null);
      this.finish(SHUTDOWN);
    });
    return this.exited;
  }

  /** Adds and starts a child at the end (OTP start_child); if it fails to start it is not kept. */
  startChild(spec: ChildSpec): Promise<void> {
    const valid = validateChildSpec(spec, `${this.id}.children[${this.records.length}]`);
    return this.enqueue(async () => {
      if (this.records.some((c) => c.spec.id === valid.id)) throw new StartError(valid.id, `a child with this id already runs under '${this.id}'`);
      const rec = newRecord(valid);
      this.records.push(rec);
      try {
        await this.startChildRecord(rec);
      } catch (err) {
        this.records.splice(this.records.indexOf(rec), 1);
        throw err;
      }
    });
  }

  /**
   * Stops a child and keeps its spec (OTP terminate_child); `id` may be a path `sub/child`. A
   * child waiting out its restart backoff is left stopped: the pending restart is cancelled.
   * Rejects with NoSuchChild.
   */
  terminateChild(id: string): Promise<void> {
    return this.routed(id, (sup, rec) => sup.terminate(rec), (sub, rest) => sub.terminateChild(rest));
  }

  /** Removes a stopped child's spec (OTP delete_child). Rejects with ChildRunning while it runs or waits to restart, NoSuchChild for an unknown id. */
  deleteChild(id: string): Promise<void> {
    return this.routed(
      id,
      async (sup, rec) => {
        sup.refuseRunning(rec);
        sup.records.splice(sup.records.indexOf(rec), 1);
      },
      (sub, rest) => sub.deleteChild(rest),
    );
  }

  /**
   * Starts a stopped child again from its spec (OTP restart_child) and resolves with it as it runs
   * now. Not counted toward the intensity. Rejects with ChildRunning while it runs or waits to
   * restart (terminate it first), NoSuchChild for an unknown id, StartError when it fails to start.
   */
  restartChild(id: string): Promise<ChildInfo> {
    return this.routed(
      id,
      async (sup, rec) => {
        sup.refuseRunning(rec);
        // A parked child started by hand: its own retry is no longer due.
        sup.cancelPending(rec);
        try {
          await sup.startChildRecord(rec);
        } catch (err) {
          if (sup.options.park) sup.park(rec);
          throw err;
        }
        return sup.infoOf(rec, Date.now());
      },
      (sub, rest) => sub.restartChild(rest),
    );
  }

  /** One child as `whichChildren` shows it; `id` may be a path `sub/child`. Throws NoSuchChild. */
  childInfo(id: string): ChildInfo {
    const [head, ...rest] = id.split('/');
    const rec = this.record(head!);
    if (rest.length === 0) return this.infoOf(rec, Date.now());
    return this.runningSub(rec).childInfo(rest.join('/'));
  }

  /** The running nested supervisor `id` (e.g. the node's `services`, for the reconciler); null while it is not running. */
  childSupervisor(id: string): Supervisor | null {
    const handle = this.records.find((c) => c.spec.id === id)?.handle;
    return handle instanceof Supervisor ? handle : null;
  }

  whichChildren(): ChildInfo[] {
    const now = Date.now();
    return this.records.map((rec) => this.infoOf(rec, now));
  }

  private infoOf(rec: ChildRecord, now: number): ChildInfo {
    return {
      id: rec.spec.id,
      kind: rec.spec.kind,
      pid: rec.handle?.pid ?? null,
      port: rec.handle?.port ?? null,
      state: rec.state,
      restarts: rec.restarts,
      version: rec.spec.version ?? rec.handle?.version ?? null,
      ...(rec.handle?.mount ? { mount: rec.handle.mount } : {}),
      restart: rec.spec.restart,
      startedAt: rec.handle ? rec.startedAt : null,
      uptimeMs: rec.handle && rec.startedAt ? now - rec.startedAt : null,
      lastExit: rec.lastExit,
      ...(rec.retryAt !== null && rec.pending ? { retryAt: rec.retryAt } : {}),
      status: rec.handle?.status() ?? null,
      ...(rec.handle instanceof Supervisor ? { strategy: rec.handle.flags.strategy, children: rec.handle.whichChildren() } : {}),
    };
  }

  /** This supervisor as a tree node. */
  info(): ChildInfo {
    return {
      id: this.id,
      kind: 'supervisor',
      pid: this.pid,
      port: null,
      state: this.state,
      restarts: 0,
      version: null,
      restart: 'permanent',
      startedAt: this.startedAt,
      uptimeMs: this.startedAt ? Date.now() - this.startedAt : null,
      lastExit: null,
      status: null,
      strategy: this.flags.strategy,
      children: this.whichChildren(),
    };
  }

  children(): ChildInfo[] {
    return this.whichChildren();
  }

  status(): ChildStatus | null {
    return null;
  }

  // ---- start -------------------------------------------------------------------------------

  private async startChildRecord(rec: ChildRecord): Promise<void> {
    rec.state = 'starting';
    rec.retryAt = null;
    const run = ++rec.run;
    let handle: ChildHandle;
    try {
      handle = await rec.spec.start();
    } catch (err) {
      rec.state = 'failed';
      const childStack = err instanceof StartError ? err.childStack : undefined;
      rec.lastExit = { normal: false, code: null, signal: null, reason: (err as Error).message ?? String(err), ...(childStack ? { stack: childStack } : {}) };
      this.report('start_error', rec.lastExit.reason, rec.spec.id);
      throw err instanceof StartError ? err : new StartError(rec.spec.id, (err as Error).message ?? String(err));
    }
    rec.handle = handle;
    rec.state = 'running';
    rec.startedAt = Date.now();
    this.report('child_started', 'started', rec.spec.id, handle.pid);
    void handle.exited.then((reason) => {
      if (rec.run !== run || rec.state === 'stopping') return; // stopped by us, or a stale run
      void this.enqueue(() => this.childExited(rec, run, reason)).catch(() => undefined);
    });
  }

  // ---- restart -----------------------------------------------------------------------------

  private async childExited(rec: ChildRecord, run: number, reason: ExitReason): Promise<void> {
    if (rec.run !== run || rec.handle === null || this.state !== 'running') return;
    rec.handle = null;
    rec.state = 'stopped';
    rec.lastExit = reason;
    this.report('child_terminated', reason.reason, rec.spec.id);
    if (rec.spec.restart === 'temporary') {
      this.records.splice(this.records.indexOf(rec), 1);
      return;
    }
    if (rec.spec.restart === 'transient' && reason.normal) return;
    const ranLong = rec.startedAt !== null && Date.now() - rec.startedAt >= this.flags.backoffResetMs;
    rec.failures = ranLong ? 1 : rec.failures + 1;
    if (this.options.park) {
      if (ranLong) rec.parks = 0;
      if (rec.failures >= this.options.park.crashLimit) {
        // Counted as a restart (a delayed one), as OTP counts a failed restart.
        rec.restarts++;
        return this.park(rec);
      }
    }
    await this.restart(rec);
  }

  /** Restarts per strategy; gives up (and fails to the parent) when over the intensity. */
  private async restart(rec: ChildRecord): Promise<void> {
    // With parking a crash loop ends in a park, never in giving up (which would stop the siblings).
    if (!this.options.park && !this.window.add()) return this.giveUp(rec);
    const delayMs = backoffDelay(rec.failures, this.flags.backoffInitialMs, this.flags.backoffMaxMs);
    const group = this.flags.strategy === 'one_for_one' ? this.oneForOne(rec) : this.flags.strategy === 'one_for_all' ? await this.oneForAll(rec) : await this.restForOne(rec);
    for (const r of group) r.state = 'restarting';
    this.report('restarting', `${this.flags.strategy}: restarting ${group.map((r) => r.spec.id).join(', ')}`, rec.spec.id, null, delayMs);
    if (delayMs > 0) return this.restartLater(group, delayMs);
    await this.startGroup(group);
  }

  /** The backoff wait: the queue stays free for calls and exits until the timer queues the restart. */
  private restartLater(group: ChildRecord[], delayMs: number): void {
    const pending: PendingRestart = {
      group,
      timer: setTimeout(() => void this.enqueue(() => this.restartDue(pending)).catch(() => undefined), delayMs),
    };
    for (const r of group) r.pending = pending;
  }

  private async restartDue(pending: PendingRestart): Promise<void> {
    // Those terminated (or restarted by the operator) during the wait have left the group.
    const due = pending.group.filter((r) => r.pending === pending);
    for (const r of due) r.pending = null;
    if (this.state !== 'running') return;
    await this.startGroup(due);
  }

  private async startGroup(group: ChildRecord[]): Promise<void> {
    for (const r of group) {
      try {
        await this.startChildRecord(r);
        r.restarts++;
      } catch {
        // OTP try_again_restart: a failed restart counts as another restart of that child.
        r.failures++;
        r.restarts++;
        if (this.options.park) {
          // Parked alone: the rest of the group still starts.
          this.park(r);
          continue;
        }
        for (const rest of group.slice(group.indexOf(r) + 1)) rest.state = 'stopped';
        return this.restart(r);
      }
    }
  }

  private oneForOne(rec: ChildRecord): ChildRecord[] {
    return [rec];
  }

  /** All others are terminated in reverse order, then all are restarted in order. */
  private async oneForAll(rec: ChildRecord): Promise<ChildRecord[]> {
    await this.terminateAll();
    this.dropTemporary(rec);
    return [...this.records];
  }

  /** The children started after the failed one are terminated in reverse order; it and they restart in order. */
  private async restForOne(rec: ChildRecord): Promise<ChildRecord[]> {
    const after = this.records.slice(this.records.indexOf(rec) + 1);
    for (const r of [...after].reverse()) await this.terminate(r);
    this.dropTemporary(rec);
    return this.records.slice(this.records.indexOf(rec));
  }

  /** OTP: temporary children terminated by a sibling's restart are not restarted but deleted. */
  private dropTemporary(except: ChildRecord): void {
    for (const r of [...this.records]) if (r !== except && r.spec.restart === 'temporary') this.records.splice(this.records.indexOf(r), 1);
  }

  // ---- park --------------------------------------------------------------------------------

  /** Leaves a child that failed 'failed' with its last exit, and starts it again after the parking backoff. */
  private park(rec: ChildRecord): void {
    const policy = this.options.park!;
    const delayMs = backoff(rec.parks, { baseMs: policy.backoffMinMs, maxMs: policy.backoffMaxMs });
    rec.parks++;
    rec.handle = null;
    rec.state = 'failed';
    rec.retryAt = Date.now() + delayMs;
    this.report('child_parked', `${rec.lastExit?.reason ?? 'failed'}; parked, next start in ${delayMs} ms`, rec.spec.id, null, delayMs);
    const pending: PendingRestart = {
      group: [rec],
      timer: setTimeout(() => void this.enqueue(() => this.retryParked(rec, pending)).catch(() => undefined), delayMs),
    };
    rec.pending = pending;
  }

  private async retryParked(rec: ChildRecord, pending: PendingRestart): Promise<void> {
    // Terminated, restarted by hand, or its supervisor stopping meanwhile: not due any more.
    if (rec.pending !== pending || this.state !== 'running') return;
    rec.pending = null;
    rec.retryAt = null;
    rec.restarts++;
    try {
      await this.startChildRecord(rec);
    } catch {
      this.park(rec);
    }
  }

  // ---- terminate ---------------------------------------------------------------------------

  private async terminate(rec: ChildRecord): Promise<void> {
    const handle = rec.handle;
    if (!handle) {
      if (rec.state === 'restarting') rec.state = 'stopped';
      this.cancelPending(rec);
      return;
    }
    rec.state = 'stopping';
    try {
      rec.lastExit = await handle.stop(rec.spec.shutdown);
    } catch (err) {
      this.report('shutdown_error', (err as Error).message ?? String(err), rec.spec.id);
    }
    rec.handle = null;
    rec.state = 'stopped';
  }

  /** Takes a child out of its pending restart; the timer goes once no child waits on it. */
  private cancelPending(rec: ChildRecord): void {
    const pending = rec.pending;
    if (!pending) return;
    rec.pending = null;
    if (!pending.group.some((r) => r.pending === pending)) clearTimeout(pending.timer);
  }

  /** Children stop in reverse start order. */
  private async terminateAll(): Promise<void> {
    for (const rec of [...this.records].reverse()) await this.terminate(rec);
  }

  // ---- restart-intensity window ------------------------------------------------------------

  /** Over the intensity: stop everything in reverse order and fail, so the parent decides. */
  private async giveUp(offender: ChildRecord): Promise<void> {
    this.report('reached_max_restart_intensity', `more than ${this.flags.intensity} restarts in ${this.flags.periodMs} ms`, offender.spec.id);
    this.state = 'stopping';
    await this.terminateAll();
    this.state = 'failed';
    this.report('shutdown', 'reached_max_restart_intensity', offender.spec.id);
    this.finish({ normal: false, code: null, signal: null, reason: 'reached_max_restart_intensity' });
  }

  // ---- plumbing ----------------------------------------------------------------------------

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private record(id: string): ChildRecord {
    const rec = this.records.find((c) => c.spec.id === id);
    if (!rec) throw new NoSuchChild(id, this.id);
    return rec;
  }

  /** OTP delete_child / restart_child refuse a child that runs or waits to restart. */
  private refuseRunning(rec: ChildRecord): void {
    if (rec.handle) throw new ChildRunning(rec.spec.id, this.id, 'running');
    if (rec.state === 'restarting') throw new ChildRunning(rec.spec.id, this.id, 'restarting');
  }

  private runningSub(rec: ChildRecord): Supervisor {
    if (rec.handle instanceof Supervisor) return rec.handle;
    throw new NoSuchChild(rec.spec.id, this.id, rec.spec.kind === 'supervisor' ? ` running now (it is ${rec.state})` : ' that is a supervisor');
  }

  /**
   * Resolves `a/b/c` paths through nested supervisors: the last step runs on the queue of the
   * supervisor that owns the child, looking it up there.
   */
  private routed<T>(path: string, here: (sup: Supervisor, rec: ChildRecord) => Promise<T>, below: (sub: Supervisor, rest: string) => Promise<T>): Promise<T> {
    const [head, ...rest] = path.split('/');
    if (rest.length === 0) return this.enqueue(() => here(this, this.record(head!)));
    try {
      return below(this.runningSub(this.record(head!)), rest.join('/'));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private report(context: SupervisorReport['context'], reason: string, offender: string | null, pid?: number | null, delayMs?: number): void {
    this.options.onReport?.({ supervisor: this.id, context, reason, offender, ...(pid !== undefined ? { pid } : {}), ...(delayMs !== undefined ? { delayMs } : {}) });
  }
}

function newRecord(spec: ValidChildSpec): ChildRecord {
  return { spec, handle: null, state: 'stopped', restarts: 0, startedAt: null, lastExit: null, failures: 0, run: 0, pending: null, parks: 0, retryAt: null };
}

/** A nested supervisor as a child of another: started fresh (new restart window) at each restart, as in OTP. */
export function supervisorChild(spec: SupervisorSpec, options: SupervisorOptions = {}): ChildSpec {
  return {
    id: spec.id,
    kind: 'supervisor',
    shutdown: 'infinity',
    restart: 'permanent',
    start: async () => {
      const sup = new Supervisor(spec, options);
      await sup.start();
      return sup;
    },
  };
}
