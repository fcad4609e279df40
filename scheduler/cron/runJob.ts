/**
 * Runs one job target once and returns its result, or throws JobRunError saying what failed.
 *
 * - command: execa with the argv as given (no shell: nothing in an argument is interpreted),
 *   killed at the job's timeout (SIGTERM, then SIGKILL if it lingers). Only the last 4 KiB of
 *   stdout and stderr are kept, read as they stream: a chatty job must not grow the scheduler's
 *   memory or bloat job_runs.
 * - service_function: POST {args} as JSON to /_hydra/functions/<function> of one running
 *   instance of the service, found from the placements its node reported.
 */
import { execa } from 'execa';
import type { Readable } from 'node:stream';
import type { Db } from '../store/db.js';
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
  /** The answer's JSON (its text when not JSON; its head when longer than MAX_BODY_CHARS). */
  body: unknown;
}

export type JobResult = CommandResult | ServiceFunctionResult;

/** What the command sees about the run it is, in its environment. */
export interface RunContext {
  runId?: number;
  scheduledFor?: Date;
}

export const OUTPUT_TAIL_BYTES = 4096;
const MAX_BODY_CHARS = 64 * 1024;
/** After the timeout's SIGTERM, how long a command may take to exit before SIGKILL. */
const KILL_GRACE_MS = 2_000;

export async function runJob(db: Db, job: Pick<Job, 'name' | 'target' | 'timeoutMs'>, context: RunContext = {}): Promise<JobResult> {
  return job.target.kind === 'command' ? runCommand(job.name, job.target, job.timeoutMs, context) : callServiceFunction(db, job.target, job.timeoutMs);
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
  address: string;
  actual_port: number;
}

/**
 * One running instance: reported running with a port by the node it is placed on (actual_node
 * = node_id, so not the stale report of a node it moved away from), on a node that is up.
 * Healthy ones first; random among equals, to spread calls.
 */
async function findInstance(db: Db, service: string): Promise<InstanceRow | undefined> {
  const r = await db.query<InstanceRow>(
    `SELECT p.node_id, n.address, p.actual_port
     FROM placements p JOIN nodes n ON n.id = p.node_id
     WHERE p.service = $1 AND p.actual_state = 'running' AND p.actual_port IS NOT NULL
       AND p.actual_node = p.node_id AND n.state = 'up'
     ORDER BY p.actual_healthy IS NOT FALSE DESC, random()
     LIMIT 1`,
    [service],
  );
  return r.rows[0];
}

function parseBody(text: string): unknown {
  if (text.length > MAX_BODY_CHARS) return { truncated: true, head: text.slice(0, OUTPUT_TAIL_BYTES) };
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function errorOf(body: unknown, text: string): string {
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const e = (body as { error: unknown }).error;
    return typeof e === 'string' ? e : JSON.stringify(e);
  }
  return text.slice(0, 500) || '(empty body)';
}

async function callServiceFunction(db: Db, target: ServiceFunctionTarget, timeoutMs: number): Promise<ServiceFunctionResult> {
  const { service, function: fn } = target;
  const instance = await findInstance(db, service);
  if (!instance) {
    throw new JobRunError(`no running instance of service ${service} to call ${fn} on (none is reported running with a port on a node that is up); start or place the service, or disable the job`);
  }
  let host: string;
  try {
    // The node's address is its admin URL; the instance listens on the same host.
    host = new URL(instance.address).hostname;
  } catch {
    throw new JobRunError(`node ${instance.node_id} has an invalid address ${JSON.stringify(instance.address)} (expected a URL such as http://10.0.0.5:7070); re-register the node`);
  }
  const url = `http://${host}:${instance.actual_port}/_hydra/functions/${encodeURIComponent(fn)}`;
  const where = `${service}.${fn} at ${url} (node ${instance.node_id})`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ args: target.args ?? {} }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await res.text();
  } catch (err) {
    if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
      throw new JobRunError(`${where} timed out after ${timeoutMs} ms; raise the job's timeoutMs or make the function faster`, { timedOut: true });
    }
    const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    throw new JobRunError(`${where} could not be reached: ${cause}`);
  }
  const body = parseBody(text);
  if (!res.ok) throw new JobRunError(`${where} answered ${res.status}: ${errorOf(body, text)}`, { status: res.status });
  return { service, function: fn, node: instance.node_id, url, status: res.status, body };
}
