/**
 * Calling a service function anywhere in the fleet, for a cron run (as `scheduler`) or an
 * operator (as `operator`): pick a node that reports a running instance, post the call in the
 * mailbox (callStore.ts), wait for the node's answer, and turn it into a result or a
 * FunctionCallError that says what went wrong and what to do.
 */
import type { Db } from '../../core/pgTransaction.js';
import { awaitCall, CallTimeoutError, instanceNode, requestCall, type CallAnswer, type CallRequest } from './callStore.js';

/** A call as the mailbox takes it (callStore.ts CallRequest), the node picked here. */
export interface FunctionCall extends Omit<CallRequest, 'nodeId'> {
  /** Only an instance on this node (default: any node that runs one). */
  node?: string | null;
}

export interface FunctionCallResult {
  service: string;
  function: string;
  node: string;
  /** What the node called, on its own 127.0.0.1. */
  url: string;
  status: number;
  /** The answer's JSON (its text when not JSON; its head when longer than 64 KiB). */
  body: unknown;
}

export class FunctionCallError extends Error {
  override readonly name = 'FunctionCallError';
  constructor(
    message: string,
    readonly detail: { timedOut?: boolean; status?: number; noInstance?: boolean } = {},
  ) {
    super(message);
  }
}

function errorOf(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const e = (body as { error: unknown }).error;
    return typeof e === 'string' ? e : JSON.stringify(e);
  }
  return (typeof body === 'string' ? body : (JSON.stringify(body) ?? '')).slice(0, 500) || '(empty body)';
}

export async function callFunction(db: Db, c: FunctionCall): Promise<FunctionCallResult> {
  const { service, fn, timeoutMs } = c;
  const node = await instanceNode(db, service, c.node ?? null);
  if (!node) {
    throw new FunctionCallError(`no running instance of service ${service}${c.node ? ` on node ${c.node}` : ''} to call ${fn} on (none is reported running with a port on a node that is up); start or place the service`, { noInstance: true });
  }
  const id = await requestCall(db, { nodeId: node, service, fn, args: c.args, timeoutMs, requestedBy: c.requestedBy, role: c.role });
  let answer: CallAnswer;
  try {
    answer = await awaitCall(db, id, timeoutMs);
  } catch (err) {
    if (err instanceof CallTimeoutError) throw new FunctionCallError(`${service}.${fn} on node ${node} timed out after ${timeoutMs} ms: ${err.message}; raise the timeout or make the function faster`, { timedOut: true });
    throw err;
  }
  if (answer.state === 'failed') throw new FunctionCallError(`${service}.${fn}${answer.url ? ` at ${answer.url}` : ''} (node ${node}) ${answer.error}`);
  const where = `${service}.${fn} at ${answer.url} (node ${node})`;
  if (answer.status < 200 || answer.status > 299) throw new FunctionCallError(`${where} answered ${answer.status}: ${errorOf(answer.body)}`, { status: answer.status });
  return { service, function: fn, node, url: answer.url, status: answer.status, body: answer.body };
}
