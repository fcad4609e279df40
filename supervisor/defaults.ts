/**
 * The supervisor's named defaults, in one place: how long a child gets to stop, to say it is
 * ready, how often a process child sends a heartbeat and how long a silence means it hangs,
 * and the restart-intensity and backoff flags of a supervisor. Child kinds, the runtime and the
 * node use these names instead of repeating the numbers.
 */

/** A worker's time to stop after SIGTERM / a stop message before it is killed (OTP's `shutdown`). */
export const SHUTDOWN_MS = 5_000;
/** A process child's time from spawn to its 'ready' message. */
export const START_TIMEOUT_MS = 10_000;
/** How often a process child sends a heartbeat (passed to it as HYDRA_HEARTBEAT_MS). */
export const HEARTBEAT_MS = 1_000;
/** A process child silent this long is hung: it is killed and restarted. */
export const HEARTBEAT_TIMEOUT_MS = 5_000;

/** A supervisor's flags when its spec leaves them out. */
export const FLAG_DEFAULTS = { intensity: 1, periodMs: 5_000, backoffInitialMs: 100, backoffMaxMs: 10_000, backoffResetMs: 10_000 } as const;
