/**
 * A supervisor with Erlang/OTP semantics (supervisor.erl), over any children that present a
 * ChildHandle: OS processes, in-process tasks, nested supervisors.
 *
 * Sections, in OTP's order: types → API → start → restart (one function per strategy) →
 * terminate → restart-intensity window. Every operation runs on one queue, as OTP's supervisor
 * is one process handling one message at a time: exits, restarts and operator commands never
 * interleave.
 */
import { StartError } from './errors.js';
import { backoffDelay, RestartWindow } from './restartWindow.js';
import type { ChildHandle, ChildInfo, ChildSpec, ChildState, ChildStatus, ExitReason, Shutdown, SupervisorFlags, SupervisorReport, SupervisorSpec } from './types.js';
import { validateChildSpec, validateSupervisorSpec, type ValidChildSpec } from './validateSpec.js';

// ---- types ---------------------------------------------------------------------------------

export interface SupervisorOptions {
  /** Every report (child started, terminated, restarting, gave up…), with OTP's keys. */
  onReport?: (report: SupervisorReport) => void;
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
  private wakeBackoff: (() => void) | null = null;
  private stopRequested = false;

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
    this.stopRequested = true;
    this.wakeBackoff?.();
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

  /** Stops a child and keeps its spec (OTP terminate_child); `id` may be a path `sub/child`. */
  terminateChild(id: string): Promise<void> {
    return this.routed(id, (sup, rec) => sup.enqueue(() => sup.terminate(rec)), (sub, rest) => sub.terminateChild(rest));
  }

  /** Removes a stopped child's spec (OTP delete_child). */
  deleteChild(id: string): void {
    const rec = this.record(id);
    if (rec.handle) throw new Error(`child '${id}' of '${this.id}' is running; terminate it first`);
    this.records.splice(this.records.indexOf(rec), 1);
  }

  /** Operator restart: stops the child if running, starts it again. Not counted toward intensity. */
  restartChild(id: string): Promise<void> {
    return this.routed(
      id,
      (sup, rec) =>
        sup.enqueue(async () => {
          await sup.terminate(rec);
          await sup.startChildRecord(rec);
        }),
      (sub, rest) => sub.restartChild(rest),
    );
  }

  /** The running nested supervisor `id` (e.g. the node's `services`, for the reconciler); null while it is not running. */
  childSupervisor(id: string): Supervisor | null {
    const handle = this.records.find((c) => c.spec.id === id)?.handle;
    return handle instanceof Supervisor ? handle : null;
  }

  whichChildren(): ChildInfo[] {
    const now = Date.now();
    return this.records.map((rec) => ({
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
      status: rec.handle?.status() ?? null,
      ...(rec.handle instanceof Supervisor ? { strategy: rec.handle.flags.strategy, children: rec.handle.whichChildren() } : {}),
    }));
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
    const run = ++rec.run;
    let handle: ChildHandle;
    try {
      handle = await rec.spec.start();
    } catch (err) {
      rec.state = 'failed';
      rec.lastExit = { normal: false, code: null, signal: null, reason: (err as Error).message ?? String(err) };
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
    rec.failures = rec.startedAt !== null && Date.now() - rec.startedAt >= this.flags.backoffResetMs ? 1 : rec.failures + 1;
    await this.restart(rec);
  }

  /** Restarts per strategy; gives up (and fails to the parent) when over the intensity. */
  private async restart(rec: ChildRecord): Promise<void> {
    if (!this.window.add()) return this.giveUp(rec);
    const delayMs = backoffDelay(rec.failures, this.flags.backoffInitialMs, this.flags.backoffMaxMs);
    const group = this.flags.strategy === 'one_for_one' ? this.oneForOne(rec) : this.flags.strategy === 'one_for_all' ? await this.oneForAll(rec) : await this.restForOne(rec);
    for (const r of group) r.state = 'restarting';
    this.report('restarting', `${this.flags.strategy}: restarting ${group.map((r) => r.spec.id).join(', ')}`, rec.spec.id, null, delayMs);
    if (delayMs > 0) await this.sleep(delayMs);
    if (this.stopRequested) return;
    for (const r of group) {
      try {
        await this.startChildRecord(r);
        r.restarts++;
      } catch {
        // OTP try_again_restart: a failed restart counts as another restart of that child.
        r.failures++;
        r.restarts++;
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

  // ---- terminate ---------------------------------------------------------------------------

  private async terminate(rec: ChildRecord): Promise<void> {
    const handle = rec.handle;
    if (!handle) {
      if (rec.state === 'restarting') rec.state = 'stopped';
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

  /** A backoff wait that a stop cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeBackoff = done;
    }).finally(() => (this.wakeBackoff = null));
  }

  private record(id: string): ChildRecord {
    const rec = this.records.find((c) => c.spec.id === id);
    if (!rec) throw new Error(`no child '${id}' under supervisor '${this.id}'`);
    return rec;
  }

  /** Resolves `a/b/c` paths through nested supervisors. */
  private routed(path: string, here: (sup: Supervisor, rec: ChildRecord) => Promise<void>, below: (sub: Supervisor, rest: string) => Promise<void>): Promise<void> {
    const [head, ...rest] = path.split('/');
    let rec: ChildRecord;
    try {
      rec = this.record(head!);
    } catch (err) {
      return Promise.reject(err);
    }
    if (rest.length === 0) return here(this, rec);
    if (!(rec.handle instanceof Supervisor)) return Promise.reject(new Error(`'${head}' under '${this.id}' is not a running supervisor`));
    return below(rec.handle, rest.join('/'));
  }

  private report(context: SupervisorReport['context'], reason: string, offender: string | null, pid?: number | null, delayMs?: number): void {
    this.options.onReport?.({ supervisor: this.id, context, reason, offender, ...(pid !== undefined ? { pid } : {}), ...(delayMs !== undefined ? { delayMs } : {}) });
  }
}

function newRecord(spec: ValidChildSpec): ChildRecord {
  return { spec, handle: null, state: 'stopped', restarts: 0, startedAt: null, lastExit: null, failures: 0, run: 0 };
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
