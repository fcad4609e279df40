/**
 * Runs a command of the release (npm ci, the build, the manifest check) with its output relayed
 * line by line to the pusher under a label, and its last lines kept for the failure message.
 * A command that outlives its time is stopped like any child of ours: SIGTERM, then SIGKILL
 * after a grace period; its whole process group, so npm's own children do not linger.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Progress } from './progress.js';

export interface StreamedOptions {
  cwd: string;
  env: Record<string, string>;
  label: string;
  progress: Progress;
  timeoutMs: number;
  /** Collect what the command writes to file descriptor 3 (a result channel besides its output). */
  fd3?: boolean;
}

export interface StreamedResult {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** The last lines of output (stdout and stderr interleaved as they came). */
  tail: string[];
  fd3: string;
}

const TAIL = 20;
const KILL_GRACE_MS = 5_000;

export function runStreamed(command: string, args: string[], options: StreamedOptions): Promise<StreamedResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe', ...(options.fd3 ? (['pipe'] as const) : [])],
      detached: true,
    });
    const tail: string[] = [];
    let fd3 = '';
    const onLine = (line: string) => {
      if (line.trim() === '') return;
      options.progress.output(options.label, line);
      tail.push(line);
      if (tail.length > TAIL) tail.shift();
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    if (options.fd3) (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (fd3 += d.toString()));
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        /* already gone */
      }
    };
    let timedOut = false;
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      signalGroup('SIGTERM');
      killer = setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS);
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      resolve({ code, signal, timedOut, tail, fd3 });
    });
  });
}

/** "exited 1: <last line>" / "timed out after 600 s" for a failed run. */
export function failureText(what: string, r: StreamedResult, timeoutMs: number): string {
  const how = r.timedOut ? `did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped` : r.code === null ? `was killed by ${r.signal}` : `exited ${r.code}`;
  // The command's own last words say why; npm's epilogue ("npm error code 1", "> node build.mjs")
  // only when there is nothing else (then it is the reason, e.g. an integrity error of npm ci).
  const lines = r.tail.map((l) => l.trim()).filter((l) => l !== '');
  const own = lines.filter((l) => !/^(npm (ERR!|error|warn|WARN|notice)|> )/.test(l));
  const last = (own.length > 0 ? own : lines).slice(-3);
  return `${what} ${how}${last.length > 0 ? `: ${last.join(' / ')}` : ''}`;
}
