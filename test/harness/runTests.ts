/**
 * What `npm test` runs after the build: the preflight (every external tool the suite needs, or
 * one line per missing one naming its Debian package, before any test starts), then a throwaway
 * PostgreSQL cluster when DATABASE_URL is unset and a throwaway redis-server when REDIS_URL is
 * unset, then tap with the remaining arguments (`npm test -- test/x.test.ts` runs one file) and
 * those servers' URLs, and a TMPDIR of the run's own (whatever a test leaves in its temp
 * directory goes with it). The servers are stopped and the directories removed at the end, also
 * when tap fails or the run is interrupted; the exit code is tap's.
 *
 *   node --import tsx test/harness/runTests.ts [tap arguments…]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { redactUrl } from '../../core/redactUrl.js';
import { postgresBinDir, preflight, testPath } from './preflight.js';
import { startThrowawayPostgres } from './throwawayPostgres.js';
import { startThrowawayRedis } from './throwawayRedis.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const say = (line: string) => console.error(`npm test: ${line}`);

class Interrupted extends Error {}

/** Servers and such, stopped in reverse order of start. */
const cleanups: Array<{ what: string; run: () => Promise<void> }> = [];
let tap: ChildProcess | null = null;
/** What the harness started, for the summary line. */
let servers = '';
let interrupted: NodeJS.Signals | null = null;

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) {
      // A second signal: no more waiting for the test files in progress to finish.
      say(`${signal} again: killing tap and its test processes, then stopping the throwaway servers`);
      if (tap?.pid) killTree(tap.pid);
      return;
    }
    interrupted = signal;
    say(`${signal}: tap lets the test files in progress finish (and tear down), then the throwaway servers stop; ${signal} again to cut it short`);
    // A Ctrl-C reached tap already (same process group); a SIGTERM sent to us alone did not.
    tap?.kill(signal);
  });
}

/** SIGKILLs `pid` and every process below it (read from /proc: tap does not kill its test files' children). */
function killTree(pid: number): void {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid …"; comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const all: number[] = [];
  const walk = (p: number) => (all.push(p), (children.get(p) ?? []).forEach(walk));
  walk(pid);
  for (const p of all) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

function checkInterrupted(): void {
  if (interrupted) throw new Interrupted();
}


function runTap(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const bin = realpathSync(path.join(ROOT, 'node_modules/.bin/tap'));
  const child = spawn(process.execPath, [bin, ...args], { cwd: ROOT, env, stdio: 'inherit' });
  tap = child;
  return new Promise((resolve) => {
    child.once('error', (err) => (say(`could not start tap: ${err.message}`), resolve(1)));
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
  });
}

async function main(): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: testPath(process.env.PATH) };
  const missing = preflight(env, env.PATH!);
  if (missing.length > 0) {
    for (const line of missing) console.error(line);
    process.exit(1); // nothing started yet: nothing to clean up, nothing more to say
  }

  // Removed last: the tests' temp files, whatever their teardowns missed (a test cut by its timeout).
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hydra-test-run-'));
  // Readable like /tmp: PgBouncer and PostgreSQL run as postgres and read their files below it.
  chmodSync(tmp, 0o755);
  cleanups.push({ what: "the run's TMPDIR", run: async () => rmSync(tmp, { recursive: true, force: true }) });
  env.TMPDIR = tmp;

  if (env.DATABASE_URL) {
    say(`using the PostgreSQL at DATABASE_URL (${redactUrl(env.DATABASE_URL, 'DATABASE_URL')}); each test creates and drops a database of its own there`);
  } else {
    const binDir = postgresBinDir(env.PATH!)!;
    say(`starting a throwaway PostgreSQL (${binDir}/initdb in a temp directory, a free port on 127.0.0.1)`);
    const pg = await startThrowawayPostgres(binDir);
    cleanups.push({ what: 'the throwaway PostgreSQL', run: pg.stop });
    env.DATABASE_URL = pg.url;
    servers += `PostgreSQL ${pg.version} on port ${pg.port}`;
    say(`PostgreSQL ${pg.version} is up: DATABASE_URL=${pg.url} (${pg.dir})`);
  }
  checkInterrupted();
  if (env.REDIS_URL) {
    say(`using the Redis at REDIS_URL (${redactUrl(env.REDIS_URL, 'REDIS_URL')}); each test uses a key prefix of its own there`);
  } else {
    say('starting a throwaway redis-server (a temp directory, a free port on 127.0.0.1, no persistence)');
    const redis = await startThrowawayRedis();
    cleanups.push({ what: 'the throwaway Redis', run: redis.stop });
    env.REDIS_URL = redis.url;
    servers += `${servers ? ' and ' : ''}Redis on port ${redis.port}`;
    say(`Redis is up: REDIS_URL=${redis.url} (${redis.dir})`);
  }
  checkInterrupted();

  const code = await runTap(process.argv.slice(2), env);
  // Interrupted: the shell's code for the signal we got, whatever tap made of it.
  return interrupted ? 128 + os.constants.signals[interrupted] : code;
}

async function cleanup(): Promise<void> {
  for (const { what, run } of cleanups.reverse()) {
    await run().catch((err: Error) => say(`cleaning up ${what} failed: ${err.message}`));
  }
}

const started = Date.now();
let code: number;
try {
  code = await main();
} catch (err) {
  if (err instanceof Interrupted) code = 128 + os.constants.signals[interrupted!];
  else {
    say((err as Error).message);
    code = 1;
  }
} finally {
  await cleanup();
}
const seconds = Math.round((Date.now() - started) / 1000);
const stopped = `; ${servers ? `the throwaway ${servers} stopped, ` : ''}their directories and the run's TMPDIR removed`;
say(`exit ${code!} after ${Math.floor(seconds / 60)} min ${seconds % 60} s${stopped}`);
process.exit(code!);
