/** The node's supervisor reports as log lines: a level for each context, OTP's keys as fields. */
import type { Level, Logger } from '../core/log.js';
import type { SupervisorReport } from '../supervisor/types.js';

const REPORT_LEVEL: Record<SupervisorReport['context'], Level> = {
  child_started: 'info',
  shutdown: 'info',
  child_terminated: 'warn',
  restarting: 'warn',
  child_parked: 'error',
  start_error: 'error',
  shutdown_error: 'error',
  reached_max_restart_intensity: 'error',
};

/** The `onReport` every supervisor of the node gets. */
export function logReports(log: Logger): (report: SupervisorReport) => void {
  return (r) => {
    const { pid, ...rest } = r;
    // `childPid`, not `pid`: the logger's `pid` is the daemon's.
    log[REPORT_LEVEL[r.context]](`supervisor ${r.context}`, { component: 'supervisor', ...rest, ...(pid !== undefined ? { childPid: pid } : {}) });
  };
}
