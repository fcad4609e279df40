/**
 * An OS-process child: a Node script started with execa and linked to its supervisor over IPC.
 *
 * - Started means ready: the child must send `ready` within `startTimeoutMs`, else it is killed
 *   and the start fails (PM2 counts a timed-out start as success; OTP and we do not).
 * - Liveness by heartbeat: a child silent for `heartbeatTimeoutMs` is hung; it is SIGKILLed and
 *   its exit is abnormal, so its supervisor applies the restart rules.
 * - Stop: brutal_kill is SIGKILL at once; a timeout is SIGTERM (the child drains), then SIGKILL
 *   when the time is up.
 * - No orphans: execa's cleanup kills the child when the supervisor's process exits normally or
 *   by a signal it can catch; for SIGKILL the child's own link notices the IPC channel closing or
 *   its parent changing (HYDRA_SUPERVISOR_PID; childLink.ts). `onSpawn`/`onExit` let the owner
 *   keep pid files, so a later start can find what a SIGKILLed one left.
 * - Why it ended: a child about to crash sends `crashed` with its error's stack (start failures
 *   send it in `start_failed`); the exit reason carries it, so the tree shows the last stack.
 */
import { HEARTBEAT_MS, HEARTBEAT_TIMEOUT_MS, START_TIMEOUT_MS } from './defaults.js';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { StartError } from './errors.js';
import { boundStack, ENV, isChildMessage, type ChildMessage } from './ipc.js';
import type { ChildHandle, ChildStatus, ExitReason, Shutdown } from './types.js';

export interface ProcessChildOptions {
  /** Passed to the child as HYDRA_CHILD_ID. */
  id: string;
  /** Absolute path of the Node entry script. */
  module: string;
  args?: string[];
  /** Node options before the script, e.g. ['--import', 'tsx'] to run TypeScript directly. */
  nodeArgs?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Default START_TIMEOUT_MS (supervisor/defaults.ts). */
  startTimeoutMs?: number;
  /** Default HEARTBEAT_MS; passed as HYDRA_HEARTBEAT_MS. */
  heartbeatMs?: number;
  /** Default HEARTBEAT_TIMEOUT_MS. */
  heartbeatTimeoutMs?: number;
  /** Lines the child writes; default: passed through to this process's stdout/stderr. */
  output?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** Called with the pid as soon as the process exists (before it is ready). */
  onSpawn?: (pid: number) => void;
  /** Called once the process has exited. */
  onExit?: (pid: number) => void;
}

export function processChild(options: ProcessChildOptions): () => Promise<ChildHandle> {
  return () => ProcessChild.start(options);
}

class ProcessChild implements ChildHandle {
  readonly exited: Promise<ExitReason>;
  port: number | null = null;
  version: string | null = null;
  mount: string | null = null;
  private lastStatus: ChildStatus | null = null;
  private lastHeartbeatAt = Date.now();
  private killReason: string | null = null;
  /** What the child said as it crashed: kept as the reason of its exit. */
  private crash: { reason: string; stack?: string } | null = null;
  private stopping = false;
  private watchdog: NodeJS.Timeout | undefined;

  private constructor(
    private readonly proc: ChildProcess,
    private readonly options: ProcessChildOptions,
  ) {
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        clearInterval(this.watchdog);
        if (proc.pid !== undefined) options.onExit?.(proc.pid);
        resolve(this.reasonFor(code, signal));
      });
    });
  }

  get pid(): number | null {
    return this.proc.pid ?? null;
  }

  static async start(o: ProcessChildOptions): Promise<ChildHandle> {
    const heartbeatMs = o.heartbeatMs ?? HEARTBEAT_MS;
    const proc = execa(process.execPath, [...(o.nodeArgs ?? []), o.module, ...(o.args ?? [])], {
      ipc: true,
      serialization: 'json',
      reject: false,
      cleanup: true,
      buffer: false,
      stdin: 'ignore',
      stdout: o.output ? 'pipe' : 'inherit',
      stderr: o.output ? 'pipe' : 'inherit',
      cwd: o.cwd,
      env: { ...o.env, [ENV.childId]: o.id, [ENV.heartbeatMs]: String(heartbeatMs), [ENV.supervisorPid]: String(process.pid) },
      extendEnv: true,
      forceKillAfterDelay: false,
    });
    // execa's result promise is not used: exits are observed on the process itself.
    proc.catch(() => undefined);
    if (proc.pid !== undefined) o.onSpawn?.(proc.pid);
    const child = new ProcessChild(proc, o);
    if (o.output) {
      for (const stream of ['stdout', 'stderr'] as const) {
        const readable = proc[stream];
        if (readable) createInterface({ input: readable }).on('line', (line) => o.output!(stream, line));
      }
    }
    proc.on('message', (m: unknown) => {
      if (isChildMessage(m)) child.onMessage(m);
    });
    await child.waitReady(o.startTimeoutMs ?? START_TIMEOUT_MS);
    child.watch(heartbeatMs, o.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS);
    return child;
  }

  status(): ChildStatus | null {
    return this.lastStatus;
  }

  async stop(shutdown: Shutdown): Promise<ExitReason> {
    this.stopping = true;
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    if (shutdown === 'brutal_kill') {
      this.proc.kill('SIGKILL');
      return this.exited;
    }
    this.proc.kill('SIGTERM');
    if (shutdown === 'infinity') return this.exited;
    const timer = setTimeout(() => {
      this.killReason = `did not stop within its shutdown time of ${shutdown} ms; killed`;
      this.proc.kill('SIGKILL');
    }, shutdown);
    const reason = await this.exited;
    clearTimeout(timer);
    return reason;
  }

  private onMessage(m: ChildMessage): void {
    if (m.t === 'heartbeat') {
      this.lastHeartbeatAt = Date.now();
      this.lastStatus = m.status;
    }
    if (m.t === 'crashed') this.crash = { reason: m.reason, ...(m.stack ? { stack: boundStack(m.stack) } : {}) };
    this.readyListener?.(m);
  }

  private readyListener: ((m: ChildMessage) => void) | null = null;

  private async waitReady(timeoutMs: number): Promise<void> {
    const id = this.options.id;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve, reject) => {
          this.readyListener = (m) => {
            if (m.t === 'ready') {
              this.port = m.port ?? null;
              this.version = m.version ?? null;
              this.mount = m.mount ?? null;
              // A heartbeat sent while starting says "starting, unhealthy"; it must not stand for
              // the running instance until its first heartbeat after ready (a rollout would read it
              // as a new version failing health).
              this.lastStatus = null;
              resolve();
            }
            else if (m.t === 'start_failed') reject(new StartError(id, m.reason, m.stack ? boundStack(m.stack) : undefined));
          };
        }),
        this.exited.then((r) => {
          throw new StartError(id, `exited before it was ready (${r.reason})`, r.stack);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new StartError(id, `not ready within its start timeout of ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      this.proc.kill('SIGKILL');
      await this.exited;
      throw err;
    } finally {
      clearTimeout(timer);
      this.readyListener = null;
    }
    this.lastHeartbeatAt = Date.now();
  }

  private watch(heartbeatMs: number, timeoutMs: number): void {
    this.watchdog = setInterval(() => {
      const silentMs = Date.now() - this.lastHeartbeatAt;
      if (silentMs > timeoutMs && !this.stopping) {
        this.killReason = `no heartbeat for ${silentMs} ms (hung); killed`;
        this.proc.kill('SIGKILL');
      }
    }, Math.min(heartbeatMs, timeoutMs));
    this.watchdog.unref();
  }

  private reasonFor(code: number | null, signal: NodeJS.Signals | null): ExitReason {
    if (this.killReason) return { normal: false, code, signal, reason: this.killReason };
    if (code === 0) return { normal: true, code, signal, reason: 'exit code 0' };
    if (this.crash) return { normal: false, code, signal, reason: `exit code ${code}: ${this.crash.reason}`, ...(this.crash.stack ? { stack: this.crash.stack } : {}) };
    if (signal) return { normal: this.stopping && signal === 'SIGTERM', code, signal, reason: `killed by ${signal}` };
    return { normal: false, code, signal, reason: `exit code ${code}` };
  }
}
