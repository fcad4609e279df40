/**
 * Runs one job target once and returns its result, or throws JobRunError saying what failed.
 *
 * - command: execa with the argv as given (no shell: nothing in an argument is interpreted),
 *   killed at the job's timeout (SIGTERM, then SIGKILL if it lingers). Only the last 4 KiB of
 *   stdout and stderr are kept, read as they stream: a chatty job must not grow the scheduler's
 *   memory or bloat job_runs.
 * - service_function: the node running an instance of the service (from the placements nodes
 *   reported) is asked through the function_calls mailbox (scheduler/calls/) to POST {args} as
 *   JSON to /_hydra/functions/<function> of its local instance; its answer comes back the same way.
 */
import { execa } from 'execa';
import type { Readable } from 'node:stream';
import type { Db } from '../store/db.js';
import { awaitCall, CallTimeoutError, requestCall, type CallAnswer } from '../calls/callStore.js';
import { JobRunError } from './errors.js';
import type { CommandTarget, Job, ServiceFunctionTarget } from './jobs.js';

export interface CommandResult {
  exitCode: number;
  /** Last ≤ 4 KiB of stdout. */
  stdout: string;
  /** Last ≤ 4 KiB of stderr. */
  stderr: string;
}

export interface ServiceFunctionResult {
  service: string;
  function: string;
  node: string;
  url: string;
  status: number;
  /** The answer's JSON (its text when not JSON; its head when longer than 64 KiB). */
  body: unknown;
}

export type JobResult = CommandResult | ServiceFunctionResult;

/** What the command sees about the run it is, in its environment. */
export interface RunContext {
  runId?: number;
  scheduledFor?: Date;
  /** Who runs it (recorded on a function call): `scheduler@<node>`, the CLI's actor. */
  requestedBy?: string;
}

export const OUTPUT_TAIL_BYTES = 4096;
/** After the timeout's SIGTERM, how long a command may take to exit before SIGKILL. */
const KILL_GRACE_MS = 2_000;

export async function runJob(db: Db, job: Pick<Job, 'name' | 'target' | 'timeoutMs'>, context: RunContext = {}): Promise<JobResult> {
  return job.target.kind === 'command' ? runCommand(job.name, job.target, job.timeoutMs, context) : callServiceFunction(db, job.target, job.timeoutMs, context.requestedBy ?? 'hydra');
}

// ---------------------------------------------------------------------------------------------
// command

/** Keeps the last `limit` bytes of a stream without ever holding much more than that. */
function tail(stream: Readable | null, limit: number): () => string {
  let chunks: Buffer[] = [];
  let size = 0;
  stream?.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (size > 2 * limit) {
      const kept = Buffer.concat(chunks).subarray(size - limit);
      chunks = [kept];
      size = kept.length;
    }
  });
  return () => {
    let buf = Buffer.concat(chunks);
    if (buf.length > limit) {
      buf = buf.subarray(buf.length - limit);
      // Do not start in the middle of a UTF-8 sequence (continuation bytes are 10xxxxxx).
      let skip = 0;
      while (skip < buf.length && skip < 3 && (buf[skip]! & 0xc0) === 0x80) skip++;
      buf = buf.subarray(skip);
    }
    return buf.toString('utf8');
  };
}

async function runCommand(name: string, target: CommandTarget, timeoutMs: number, context: RunContext): Promise<CommandResult> {
  const [file, ...args] = target.argv;
  const env: Record<string, string> = { ...target.env, HYDRA_JOB_NAME: name };
  if (context.runId !== undefined) env.HYDRA_JOB_RUN_ID = String(context.runId);
  if (context.scheduledFor) env.HYDRA_JOB_SCHEDULED_FOR = context.scheduledFor.toISOString();
  const proc = execa(file!, args, {
    cwd: target.cwd,
    env,
    extendEnv: true,
    stdin: 'ignore',
    buffer: false,
    reject: false,
    timeout: timeoutMs,
    forceKillAfterDelay: KILL_GRACE_MS,
    // Killed if the scheduler exits: a job must not outlive the leader that started it unseen.
    cleanup: true,
  });
  const stdout = tail(proc.stdout, OUTPUT_TAIL_BYTES);
  const stderr = tail(proc.stderr, OUTPUT_TAIL_BYTES);
  const r = await proc;
  const out = { stdout: stdout(), stderr: stderr() };
  const errTail = out.stderr.trim() ? `: ${out.stderr.trim()}` : '';
  if (r.timedOut) {
    throw new JobRunError(`command ${file} timed out after ${timeoutMs} ms and was killed; raise the job's timeoutMs or make the command faster${errTail}`, { timedOut: true });
  }
  if (typeof r.exitCode === 'number') {
    if (r.exitCode !== 0) throw new JobRunError(`command ${file} failed with exit code ${r.exitCode}${errTail}`, { exitCode: r.exitCode });
    return { exitCode: 0, ...out };
  }
  if (r.signal) throw new JobRunError(`command ${file} was killed by ${r.signal}${errTail}`);
  // Never started (no such program, cwd missing, not executable).
  throw new JobRunError(`command ${file} could not be run: ${r.shortMessage}`);
}

// ---------------------------------------------------------------------------------------------
// service_function

interface InstanceRow {
  node_id: string;
}

/**
 * The node of one running instance: reported running with a port by the node it is placed on
 * (actual_node = node_id, so not the stale report of a node it moved away from), on a node that
 * is up. Healthy ones first; random among equals, to spread calls.
 */
async function findInstance(db: Db, service: string): Promise<InstanceRow | undefined> {
  const r = await db.query<InstanceRow>(
    `SELECT p.node_id
     FROM placements p JOIN nodes n ON n.id = p.node_id
     WHERE p.service = $1 AND p.actual_state = 'running' AND p.actual_port IS NOT NULL
       AND p.actual_node = p.node_id AND n.state = 'up'
     ORDER BY p.actual_healthy IS NOT FALSE DESC, random()
     LIMIT 1`,
    [service],
  );
  return r.rows[0];
}

function errorOf(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const e = (body as { error: unknown }).error;
    return typeof e === 'string' ? e : JSON.stringify(e);
  }
  return (typeof body === 'string' ? body : JSON.stringify(body) ?? '').slice(0, 500) || '(empty body)';
}

/**
 * Asks the node that runs an instance of the service to call the function (the function_calls
 * mailbox, scheduler/calls/): the instance listens on that node's 127.0.0.1 only.
 */
async function callServiceFunction(db: Db, target: ServiceFunctionTarget, timeoutMs: number, requestedBy: string): Promise<ServiceFunctionResult> {
  const { service, function: fn } = target;
  const instance = await findInstance(db, service);
  if (!instance) {
    throw new JobRunError(`no running instance of service ${service} to call ${fn} on (none is reported running with a port on a node that is up); start or place the service, or disable the job`);
  }
  const node = instance.node_id;
  const id = await requestCall(db, { nodeId: node, service, fn, args: target.args ?? {}, timeoutMs, requestedBy });
  let answer: CallAnswer;
  try {
    answer = await awaitCall(db, id, timeoutMs);
  } catch (err) {
    if (err instanceof CallTimeoutError) throw new JobRunError(`${service}.${fn} on node ${node} timed out after ${timeoutMs} ms: ${err.message}; raise the job's timeoutMs or make the function faster`, { timedOut: true });
    throw err;
  }
  if (answer.state === 'failed') throw new JobRunError(`${service}.${fn}${answer.url ? ` at ${answer.url}` : ''} (node ${node}) ${answer.error}`);
  const where = `${service}.${fn} at ${answer.url} (node ${node})`;
  if (answer.status < 200 || answer.status > 299) throw new JobRunError(`${where} answered ${answer.status}: ${errorOf(answer.body)}`, { status: answer.status });
  return { service, function: fn, node, url: answer.url, status: answer.status, body: answer.body };
}
