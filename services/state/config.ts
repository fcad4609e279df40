/** The state service's settings, read from the environment once in `init` (rules in ../serviceEnv.ts). */
import { databaseUrlFromEnv, intFromEnv } from '../serviceEnv.js';

export interface StateConfig {
  databaseUrl: string;
  /** Longest wait of an applied row before its flush (write-behind lag bound). */
  flushMs: number;
  /** Rows that start a flush at once. */
  flushRows: number;
  ssePingMs: number;
  wsPingMs: number;
  /** Live streams (SSE + WebSocket) one instance holds in total, and per client address. */
  maxStreams: number;
  maxStreamsPerClient: number;
  wsMaxBindings: number;
  /**
   * Fault injection for tests (STATE_TEST_CRASH_AFTER_FLUSH): a marker file path. The first flush
   * that writes superseded changes while the file is missing creates it and SIGKILLs the process:
   * a crash after the flush and before the batch's acknowledgement. Unset in production.
   */
  crashAfterFlushMarker: string | null;
}

export function readStateConfig(env: NodeJS.ProcessEnv = process.env): StateConfig {
  return {
    databaseUrl: databaseUrlFromEnv(env, 'the state service persists item_state there'),
    flushMs: intFromEnv(env, 'STATE_FLUSH_MS', 50, 1, 10_000),
    flushRows: intFromEnv(env, 'STATE_FLUSH_ROWS', 500, 1, 100_000),
    ssePingMs: intFromEnv(env, 'STATE_SSE_PING_MS', 15_000, 10, 600_000),
    wsPingMs: intFromEnv(env, 'STATE_WS_PING_MS', 30_000, 10, 600_000),
    maxStreams: intFromEnv(env, 'STATE_MAX_STREAMS', 1024, 1, 100_000),
    maxStreamsPerClient: intFromEnv(env, 'STATE_MAX_STREAMS_PER_CLIENT', 64, 1, 100_000),
    wsMaxBindings: intFromEnv(env, 'STATE_WS_MAX_BINDINGS', 100, 1, 10_000),
    crashAfterFlushMarker: env.STATE_TEST_CRASH_AFTER_FLUSH?.trim() || null,
  };
}
