/**
 * Cheap fake children for supervisor tests: no process, just a ChildHandle that counts its starts,
 * crashes on demand and knows which of its runs are still live, so a run started behind the
 * supervisor's back (not in its records, never stopped) shows up.
 */
import type { ChildHandle, ChildSpec, ExitReason, RestartType, SupervisorReport } from '../../supervisor/types.js';

export interface FakeChild {
  readonly spec: ChildSpec;
  /** Start attempts so far, failed ones included. */
  readonly starts: number;
  /** Runs started and not yet ended (crashed or stopped). */
  readonly live: number;
  /** Ends the current run abnormally, as a crash. */
  crash(reason?: string): void;
  /** The next `n` starts fail. */
  failStarts(n: number): void;
}

let nextPid = 4_000_000;

export function fakeChild(id: string, restart: RestartType = 'permanent'): FakeChild {
  let starts = 0;
  let failing = 0;
  const runs = new Set<(r: ExitReason) => void>();
  let current: ((r: ExitReason) => void) | null = null;
  const spec: ChildSpec = {
    id,
    restart,
    shutdown: 1_000,
    start: async () => {
      starts++;
      if (failing > 0) {
        failing--;
        throw new Error(`fake start failure of ${id}`);
      }
      let end!: (r: ExitReason) => void;
      const exited = new Promise<ExitReason>((resolve) => {
        end = (r) => {
          runs.delete(end);
          if (current === end) current = null;
          resolve(r);
        };
      });
      runs.add(end);
      current = end;
      const handle: ChildHandle = {
        pid: nextPid++,
        exited,
        status: () => null,
        stop: () => {
          end({ normal: true, code: null, signal: null, reason: 'stopped' });
          return exited;
        },
      };
      return handle;
    },
  };
  return {
    spec,
    get starts() {
      return starts;
    },
    get live() {
      return runs.size;
    },
    crash: (reason = 'crashed') => {
      if (!current) throw new Error(`fake child ${id} is not running`);
      current({ normal: false, code: 1, signal: null, reason });
    },
    failStarts: (n) => (failing = n),
  };
}

/** Reports as they come, and a promise for the next one that matches. */
export function reportLog(): { list: SupervisorReport[]; onReport: (r: SupervisorReport) => void; next: (match: (r: SupervisorReport) => boolean) => Promise<SupervisorReport> } {
  const list: SupervisorReport[] = [];
  const waiting: Array<{ match: (r: SupervisorReport) => boolean; resolve: (r: SupervisorReport) => void }> = [];
  return {
    list,
    onReport: (r) => {
      list.push(r);
      for (const w of [...waiting]) {
        if (!w.match(r)) continue;
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(r);
      }
    },
    next: (match) => new Promise((resolve) => waiting.push({ match, resolve })),
  };
}
