/**
 * The node's side of the function-call mailbox (callStore.ts): it claims the calls addressed to
 * this node (woken by NOTIFY hydra_calls, and polling as the backstop), POSTs `{args}` to
 * `/_hydra/functions/<fn>` of a local running instance of the service on that instance's private
 * functions socket, with the node's secret, and writes the instance's status and answer back (or
 * why it could not call it).
 */
import { request } from 'node:http';
import { ROLE_HEADER } from '../../runtime/functionParams.js';
import { SECRET_HEADER, type FunctionsAddress } from '../../runtime/functionsAccess.js';
import type { Logger } from '../../core/log.js';
import { PassLoop } from '../passLoop.js';
import type { ChildSpec } from '../../supervisor/types.js';
import type { StoreRef } from '../store/storeLink.js';
import { wakeableChild, type WakeRef } from '../store/wakeUps.js';
import { claimCalls, finishCall, type CallAnswer, type ClaimedCall } from './callStore.js';

export interface CallRunnerOptions {
  nodeId: string;
  store: StoreRef;
  /** Where to call the functions of a running instance of `service` on this node (healthy ones first), or null. */
  functionsOf: (service: string) => FunctionsAddress | null;
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
export async function callLocal(call: ClaimedCall, target: FunctionsAddress | null, nodeId: string): Promise<CallAnswer> {
  if (target === null) return { state: 'failed', url: null, error: `no running instance of service ${call.service} on node ${nodeId} any more (it stopped or moved since the call was addressed)` };
  const path = `/_hydra/functions/${encodeURIComponent(call.fn)}`;
  const url = `unix:${target.socket}:${path}`;
  const waitMs = Math.max(1, Math.ceil(call.remainingMs));
  try {
    const { status, text } = await postOnSocket(target, path, call.role, JSON.stringify({ args: call.args }), waitMs);
    return { state: 'done', status, body: parseBody(text), url };
  } catch (err) {
    if (err instanceof Error && err.name === 'TimeoutError') return { state: 'failed', url, error: `no answer within the caller's ${Math.round(call.remainingMs)} ms` };
    return { state: 'failed', url, error: `could not be reached: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** One POST over the instance's Unix socket (fetch cannot dial one), bounded by `waitMs`. */
function postOnSocket(target: FunctionsAddress, path: string, role: string, body: string, waitMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: target.socket,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body), [ROLE_HEADER]: role, [SECRET_HEADER]: target.secret },
        signal: AbortSignal.timeout(waitMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', (err: Error) => reject(err.name === 'AbortError' ? Object.assign(new Error('timed out'), { name: 'TimeoutError' }) : err));
    req.end(body);
  });
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
          const answer = await callLocal(call, this.options.functionsOf(call.service), this.options.nodeId);
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
