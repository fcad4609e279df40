/**
 * A deploy world for one test: a HYDRA_HOME of its own, a migrated database of its own, the
 * deploy repository made by the built `hydra deploy init`, and a clone of the fixture app
 * (fixtureApp.ts) to change, commit and push with real git. Pushes run without NODE_OPTIONS
 * (tap's loader must not reach the hook's node).
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import type { Test } from 'tap';
import { migrate } from '../../scheduler/store/migrate.js';
import { testDatabase } from '../helpers/postgres.js';
import { hydra, type Run } from '../scheduler/schedulerCli.js';
import { fixtureTemplate } from './fixtureApp.js';

const run = promisify(execFile);

export interface PushResult {
  code: number;
  /** What git printed (stdout and stderr in order): the hook's lines come as `remote: …`. */
  output: string;
  /** The hook's lines, `remote: ` and git's padding removed. */
  remote: string[];
}

export interface ReleaseRow {
  id: number;
  commit: string;
  path: string;
  status: string;
  service_hashes: Record<string, string>;
  error: string | null;
}

export interface DeployWorld {
  home: string;
  repo: string;
  url: string;
  pool: pg.Pool;
  /** The app clone. */
  work: string;
  /** `hydra <args>` with this world's HYDRA_HOME and DATABASE_URL. */
  hydra(...args: string[]): Promise<Run>;
  /** Writes (or, for null, deletes) files of the app and commits them; returns the commit id. */
  commit(message: string, files: Record<string, string | null>): Promise<string>;
  /** `git push <repo> HEAD:main` (or the given refspec) from the app clone. */
  push(options?: { refspec?: string; repo?: string; cwd?: string; onLine?: (line: string) => void }): Promise<PushResult>;
  /** What the deploy repository's main names now (null: no main). */
  main(repo?: string): Promise<string | null>;
  releases(): Promise<ReleaseRow[]>;
  /** A second clone of the app (its own history from the same first commit). */
  clone(): Promise<string>;
}

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('git', args, { cwd });
  return stdout.trim();
}

/** The environment of a pusher: no tap loader, no npm settings of the test runner. */
function pusherEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0' };
  delete env.NODE_OPTIONS;
  return env;
}

/** `git push --porcelain <repo> <refspec>` from `cwd` as a pusher would; the hook's lines are `remote:` lines. */
export function gitPush(cwd: string, repo: string, refspec: string, onLine?: (line: string) => void): Promise<PushResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['push', '--porcelain', repo, refspec], { cwd, env: pusherEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let partial = '';
    const onData = (d: Buffer) => {
      const text = d.toString();
      output += text;
      partial += text;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) onLine?.(l);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      const remote = output
        .split('\n')
        .filter((l) => l.startsWith('remote: '))
        .map((l) => l.slice('remote: '.length).trimEnd());
      resolve({ code: code ?? -1, output, remote });
    });
  });
}

export async function deployWorld(t: Test, initArgs: string[] = []): Promise<DeployWorld> {
  const db = await testDatabase(t);
  // Dropping the database WITH (FORCE) at teardown may end a pooled connection first (57P01).
  db.pool.on('error', (err: Error & { code?: string }) => {
    if (err.code !== '57P01') throw err;
  });
  await migrate(db.pool);
  const home = mkdtempSync(path.join(tmpdir(), 'hydra-deploy-home-'));
  const work = mkdtempSync(path.join(tmpdir(), 'hydra-deploy-work-'));
  t.teardown(() => {
    rmSync(home, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });
  const cli = (...args: string[]) => hydra({ HYDRA_HOME: home, DATABASE_URL: db.url }, ...args);
  const init = await cli('deploy', 'init', ...initArgs);
  if (init.code !== 0) throw new Error(`hydra deploy init failed: ${init.stderr}`);
  const repo = path.join(home, 'deploy.git');

  cpSync(fixtureTemplate(), work, { recursive: true });
  await git(work, 'init', '--quiet', '--initial-branch=main');
  await git(work, 'config', 'user.email', 'test@hydra.invalid');
  await git(work, 'config', 'user.name', 'Hydra test');
  await git(work, 'add', '-A');
  await git(work, 'commit', '--quiet', '-m', 'fixture app');

  const commitIn = async (cwd: string, message: string, files: Record<string, string | null>) => {
    for (const [name, text] of Object.entries(files)) {
      const file = path.join(cwd, name);
      if (text === null) rmSync(file, { force: true });
      else {
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, text);
      }
    }
    await git(cwd, 'add', '-A');
    await git(cwd, 'commit', '--quiet', '--allow-empty', '-m', message);
    return git(cwd, 'rev-parse', 'HEAD');
  };

  return {
    home,
    repo,
    url: db.url,
    pool: db.pool,
    work,
    hydra: cli,
    commit: (message, files) => commitIn(work, message, files),
    push(options = {}) {
      return gitPush(options.cwd ?? work, options.repo ?? repo, options.refspec ?? 'HEAD:main', options.onLine);
    },
    async main(other) {
      try {
        return await git(other ?? repo, 'rev-parse', '--verify', '--quiet', 'refs/heads/main');
      } catch {
        return null;
      }
    },
    async releases() {
      const r = await db.pool.query<ReleaseRow & { id: string }>('SELECT id, commit, path, status, service_hashes, error FROM releases ORDER BY id');
      return r.rows.map((row) => ({ ...row, id: Number(row.id) }));
    },
    async clone() {
      const dir = mkdtempSync(path.join(tmpdir(), 'hydra-deploy-clone-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      await run('git', ['clone', '--quiet', work, dir]);
      await git(dir, 'config', 'user.email', 'other@hydra.invalid');
      await git(dir, 'config', 'user.name', 'Other');
      return dir;
    },
  };
}

/** Commits in `cwd` (another clone) the way DeployWorld.commit does. */
export async function commitIn(cwd: string, message: string, files: Record<string, string>): Promise<string> {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(cwd, name)), { recursive: true });
    writeFileSync(path.join(cwd, name), text);
  }
  await git(cwd, 'add', '-A');
  await git(cwd, 'commit', '--quiet', '-m', message);
  return git(cwd, 'rev-parse', 'HEAD');
}
