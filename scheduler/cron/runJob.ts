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
import type { Db } from '../../core/pgTransaction.js';
import { callFunction, FunctionCallError, type FunctionCallResult } from '../calls/callFunction.js';
import { JobRunError } from './errors.js';
import type { CommandTarget, Job, ServiceFunctionTarget } from './jobSpec.js';

export interface CommandResult {
  exitCode: number;
  /** Last ≤ 4 KiB of stdout. */
  stdout: string;
  /** Last ≤ 4 KiB of stderr. */
  stderr: string;
}

export type ServiceFunctionResult = FunctionCallResult;

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

/** Through the function_calls mailbox to the node that runs an instance (scheduler/calls/), as `scheduler`. */
async function callServiceFunction(db: Db, target: ServiceFunctionTarget, timeoutMs: number, requestedBy: string): Promise<ServiceFunctionResult> {
  try {
    return await callFunction(db, { service: target.service, fn: target.function, args: target.args ?? {}, timeoutMs, requestedBy, role: 'scheduler' });
  } catch (err) {
    if (!(err instanceof FunctionCallError)) throw err;
    const { noInstance, ...detail } = err.detail;
    throw new JobRunError(noInstance ? `${err.message}, or disable the job` : err.message, detail);
  }
}
