/**
 * The node's side of the function-call mailbox (callStore.ts): it claims the calls addressed to
 * this node (woken by NOTIFY hydra_calls, and polling as the backstop), POSTs `{args}` to
 * `/_hydra/functions/<fn>` of a local running instance of the service on 127.0.0.1, and writes
 * the instance's status and answer back (or why it could not call it).
 */
import { ROLE_HEADER } from '../../runtime/functionParams.js';
import type { Logger } from '../../core/log.js';
import { PassLoop } from '../passLoop.js';
import type { ChildSpec } from '../../supervisor/types.js';
import type { StoreRef } from '../store/storeLink.js';
import { wakeableChild, type WakeRef } from '../store/wakeUps.js';
import { claimCalls, finishCall, type CallAnswer, type ClaimedCall } from './callStore.js';

export interface CallRunnerOptions {
  nodeId: string;
  store: StoreRef;
  /** The port of a running instance of `service` on this node (healthy ones first), or null. */
  portOf: (service: string) => number | null;
  log: Logger;
  /** Polling backstop (default 1000 ms). */
  pollMs?: number;
}

/** Answers longer than this are stored as their head (a job's result is for people to read). */
const MAX_BODY_CHARS = 64 * 1024;
const HEAD_CHARS = 4096;
/** Calls taken per pass; the rest wait for the next one. */
const BATCH = 16;

function parseBody(text: string): unknown {
  if (text.length > MAX_BODY_CHARS) return { truncated: true, head: text.slice(0, HEAD_CHARS) };
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Calls the local instance; never throws (a failure is an answer too). */
export async function callLocal(call: ClaimedCall, port: number | null, nodeId: string): Promise<CallAnswer> {
  if (port === null) return { state: 'failed', url: null, error: `no running instance of service ${call.service} on node ${nodeId} any more (it stopped or moved since the call was addressed)` };
  const url = `http://127.0.0.1:${port}/_hydra/functions/${encodeURIComponent(call.fn)}`;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', [ROLE_HEADER]: call.role },
      body: JSON.stringify({ args: call.args }),
      signal: AbortSignal.timeout(Math.max(1, Math.ceil(call.remainingMs))),
    });
    return { state: 'done', status: res.status, body: parseBody(await res.text()), url };
  } catch (err) {
    if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return { state: 'failed', url, error: `no answer within the caller's ${Math.round(call.remainingMs)} ms` };
    const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    return { state: 'failed', url, error: `could not be reached: ${cause}` };
  }
}

export class CallRunner {
  private readonly loop: PassLoop;

  constructor(private readonly options: CallRunnerOptions) {
    this.loop = new PassLoop(() => this.pass(), options.pollMs ?? 1_000, (err) => options.log.warn('function calls: pass failed; retrying', { err }));
  }

  start(): void {
    this.loop.start();
  }

  /** A call for this node was notified. */
  poke(): void {
    this.loop.poke();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** Takes and answers what is waiting; exposed for tests. */
  async pass(): Promise<number> {
    const pool = this.options.store.pool;
    if (!pool) return 0;
    let answered = 0;
    for (;;) {
      const calls = await claimCalls(pool, this.options.nodeId, BATCH);
      await Promise.all(
        calls.map(async (call) => {
          const answer = await callLocal(call, this.options.portOf(call.service), this.options.nodeId);
          this.options.log.info('function call answered', { call: call.id, service: call.service, function: call.fn, ...(answer.state === 'done' ? { status: answer.status } : { error: answer.error }) });
          await finishCall(pool, call.id, answer);
        }),
      );
      answered += calls.length;
      if (calls.length < BATCH || this.loop.stopping) return answered;
    }
  }
}

export function callRunnerChild(options: CallRunnerOptions & { id?: string; wake?: WakeRef }): ChildSpec {
  return wakeableChild(options.id ?? 'calls', 'calls', options.wake, () => new CallRunner(options));
}
