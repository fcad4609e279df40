/**
 * `hydra deploy init | receive | releases`: the node's git deploy repository, what a push runs,
 * and the releases pushes have made. See docs/deploy.md.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { EXIT_OK, UsageError, helpOr, parseCommandArgs, type Command } from '../core/cli.js';
import { withDatabase } from '../scheduler/cli/database.js';
import { formatTime, orDash, print, renderTable, shortCommit } from '../core/table.js';
import { hookRepo } from './buildEnv.js';
import { RECEIVE_OPTIONS, RECEIVE_USAGE, deployPaths, receiveArgs, receiveSettings } from './config.js';
import { initRepo } from './initRepo.js';
import { createProgress } from './progress.js';
import { receive } from './receive.js';
import { listReleases } from '../scheduler/store/releases.js';

function absolute(option: string, value: string | undefined): string | null {
  if (value === undefined) return null;
  if (!path.isAbsolute(value)) throw new UsageError(`${option}: '${value}' is invalid; expected an absolute path`);
  return path.normalize(value);
}

const init: Command = {
  path: ['deploy', 'init'],
  summary: "create the node's git deploy repository and its pre-receive hook (idempotent)",
  usage: `hydra deploy init [--repo PATH (default $HYDRA_HOME/deploy.git)] [--env-file FILE] ${RECEIVE_USAGE} [--json]`,
  async run(args) {
    const p = parseCommandArgs(args, { repo: { type: 'string' }, 'env-file': { type: 'string' }, ...RECEIVE_OPTIONS });
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const values = p.values as Record<string, string | boolean | undefined>;
    const settings = receiveSettings(values);
    const paths = deployPaths();
    const repo = absolute('--repo', values.repo as string | undefined) ?? paths.defaultRepo;
    const envFile = absolute('--env-file', values['env-file'] as string | undefined);
    const result = initRepo({ repo, branch: settings.branch, lockFile: paths.lockFile, releasesDir: paths.releasesDir, envFile, receiveArgs: receiveArgs(settings), env: process.env });
    const human = [
      `${result.created ? 'created' : 'kept'} bare repository ${result.repo}`,
      `hook ${result.hook}: ${result.hookState} (pushes to ${result.branch} deploy; with ${result.variables.join(', ')}${result.envFile ? `, then ${result.envFile}` : ''})`,
      `push with: git push <user>@<this host>:${result.repo} ${result.branch}`,
    ].join('\n');
    print(Boolean(values.json), result, human);
    return EXIT_OK;
  },
};

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const receiveCommand: Command = {
  path: ['deploy', 'receive'],
  summary: "deploy a push (run by the repository's pre-receive hook, git's ref lines on stdin)",
  usage: `hydra deploy receive [--repo PATH] ${RECEIVE_USAGE}   (stdin: '<old> <new> <ref>' lines)`,
  async run(args) {
    const p = parseCommandArgs(args, { repo: { type: 'string' }, ...RECEIVE_OPTIONS });
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const values = p.values as Record<string, string | boolean | undefined>;
    if (values.json) throw new UsageError('--json: not available; receive reports to the pusher line by line');
    const settings = receiveSettings(values);
    if (process.stdin.isTTY) throw new UsageError("expects git's '<old> <new> <ref>' lines on stdin; it is run by the pre-receive hook 'hydra deploy init' writes");
    const paths = deployPaths();
    const repo = absolute('--repo', values.repo as string | undefined) ?? hookRepo(process.env, paths.defaultRepo);
    if (!existsSync(repo)) throw new UsageError(`--repo: ${repo} does not exist; run 'hydra deploy init' first`);
    return receive({ stdin: await readStdin(), settings, paths, repo, env: process.env, progress: createProgress(), withDb: (fn) => withDatabase(fn) });
  },
};

const releases: Command = {
  path: ['deploy', 'releases'],
  summary: 'list the releases pushes made: commit, status, created, the services running each',
  usage: 'hydra deploy releases [--limit N (default 20)] [--json]',
  async run(args) {
    const p = parseCommandArgs(args, { limit: { type: 'string' } });
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const raw = p.values.limit as string | undefined;
    const limit = raw === undefined ? 20 : /^\d+$/.test(raw) && Number(raw) >= 1 ? Number(raw) : NaN;
    if (Number.isNaN(limit)) throw new UsageError(`--limit: '${raw}' is invalid; expected a whole number of at least 1`);
    const list = await withDatabase((db) => listReleases(db, limit));
    const rows = list.map((r) => [
      String(r.id),
      shortCommit(r.commit),
      r.status,
      formatTime(r.createdAt),
      orDash(r.services.join(',')),
      String(r.instances.length),
      existsSync(r.path) ? 'present' : 'pruned',
      orDash(r.error),
    ]);
    const count = (s: string) => list.filter((r) => r.status === s).length;
    const summary = `${list.length} release(s): ${count('ready')} ready, ${count('failed')} failed, ${count('building')} building${list.length === limit ? `; the latest ${limit} shown (--limit)` : ''}`;
    const table = renderTable(['ID', 'COMMIT', 'STATUS', 'CREATED', 'SERVICES', 'INSTANCES', 'FILES', 'ERROR'], rows);
    const json = { releases: list.map((r) => ({ ...r, files: existsSync(r.path) ? 'present' : 'pruned' })) };
    print(Boolean(p.values.json), json, list.length === 0 ? 'no releases yet; push to the deploy repository (hydra deploy init)' : `${table}\n${summary}`);
    return EXIT_OK;
  },
};

export const deployCommands: Command[] = [init, receiveCommand, releases];
