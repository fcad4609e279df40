/**
 * A child that runs inside the daemon process (the store link, the reconciler, the scheduler):
 * a task with a start, a stop, and a way to fail by itself. It gets the same supervision as an
 * OS process child: a start that throws is a start failure, a task that fails is an abnormal
 * exit its supervisor restarts, and a stop that overruns the shutdown time is reported as such
 * (an in-process task cannot be SIGKILLed; its supervisor moves on and the task is abandoned).
 */
import { SHUTDOWN_MS } from './defaults.js';
import type { ChildHandle, ChildSpec, ChildStatus, ExitReason, RestartType, Shutdown } from './types.js';

export interface InProcessTask {
  /** Ends the task; resolves once it holds nothing any more (timers, connections). */
  stop(): Promise<void>;
  status?(): ChildStatus | null;
}

/** What the task's start function gets: `fail` ends the child abnormally (its supervisor restarts it). */
export interface InProcessControl {
  fail(reason: string): void;
}

export interface InProcessChildOptions {
  id: string;
  start: (control: InProcessControl) => Promise<InProcessTask>;
  restart?: RestartType;
  /** Default 5000 ms. */
  shutdown?: Shutdown;
}

export function inProcessChild(options: InProcessChildOptions): ChildSpec {
  return {
    id: options.id,
    kind: 'worker',
    restart: options.restart ?? 'permanent',
    shutdown: options.shutdown ?? SHUTDOWN_MS,
    start: async () => {
      let done!: (r: ExitReason) => void;
      let ended = false;
      const exited = new Promise<ExitReason>((r) => (done = r));
      const end = (r: ExitReason) => {
        if (ended) return;
        ended = true;
        done(r);
      };
      let task: InProcessTask | undefined;
      const control: InProcessControl = {
        fail: (reason) => {
          // Stop what the task still holds before its supervisor starts a new one.
          void (task ? task.stop().catch(() => undefined) : Promise.resolve()).finally(() => end({ normal: false, code: null, signal: null, reason }));
        },
      };
      task = await options.start(control);
      const started = task;
      const handle: ChildHandle = {
        pid: process.pid,
        exited,
        status: () => started.status?.() ?? null,
        stop: (shutdown: Shutdown) => {
          const stopped = started.stop().then(
            () => end({ normal: true, code: null, signal: null, reason: 'stopped' }),
            (err: unknown) => end({ normal: false, code: null, signal: null, reason: `stop failed: ${err instanceof Error ? err.message : String(err)}` }),
          );
          if (typeof shutdown === 'number') {
            const timer = setTimeout(() => end({ normal: false, code: null, signal: null, reason: `did not stop within ${shutdown} ms; abandoned` }), shutdown);
            timer.unref();
            void stopped.finally(() => clearTimeout(timer));
          }
          return exited;
        },
      };
      return handle;
    },
  };
}
