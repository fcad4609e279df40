/**
 * `hydra scheduler deployments | deploy | rollback`: rolling updates as the store records them
 * (scheduler/rollout.ts). deploy and rollback only record the intent; the leader rolls it out a
 * batch of nodes at a time from its next tick, and `deployments` shows how far it got.
 */
import { EXIT_OK, UsageError, helpOr, parseCommandArgs, type Command } from '../../core/cli.js';
import { listDeployments, rollback, startDeployment, type Deployment } from '../rollout.js';
import { getServiceSpec } from '../specs.js';
import { withDatabase } from './database.js';
import { cliActor, joinNegativeValues, wholeNumber } from './options.js';
import { formatTime, orDash, plural, print, renderTable, shortCommit } from '../../core/table.js';

const DEFAULT_LIMIT = 20;

function progressText(d: Deployment): string {
  const { done, batch } = d.progress;
  if (done.length === 0 && batch.length === 0) return '-';
  return `${done.length} done${batch.length > 0 ? `, ${batch.length} in batch (${batch.join(',')})` : ''}`;
}

const deployments: Command = {
  path: ['scheduler', 'deployments'],
  summary: 'list rolling updates, newest first: release, previous, state, progress, error, times',
  usage: `hydra scheduler deployments [--service <name>] [--limit N (default ${DEFAULT_LIMIT})] [--json]`,
  async run(args) {
    const p = parseCommandArgs(joinNegativeValues(args, ['--limit']), { service: { type: 'string' }, limit: { type: 'string' } });
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const { service, limit: rawLimit } = p.values as { service?: string; limit?: string };
    const limit = rawLimit === undefined ? DEFAULT_LIMIT : wholeNumber('--limit', rawLimit, 1);
    const list = await withDatabase(async (db) => {
      const found = await listDeployments(db, { ...(service !== undefined ? { service } : {}), limit });
      // A removed service keeps its history; only a name with neither is a mistake.
      if (service !== undefined && found.length === 0) await getServiceSpec(db, service);
      return found;
    });
    const count = (state: string) => list.filter((d) => d.state === state).length;
    const states = ['pending', 'running', 'succeeded', 'failed', 'rolled_back'].filter((st) => count(st) > 0).map((st) => `${count(st)} ${st}`);
    const summary = `${plural(list.length, 'deployment')}${states.length > 0 ? ` (${states.join(', ')})` : ''}${list.length === limit ? `; the latest ${limit} shown (--limit)` : ''}`;
    const table = renderTable(
      ['ID', 'SERVICE', 'RELEASE', 'PREVIOUS', 'STATE', 'PROGRESS', 'CREATED', 'FINISHED', 'ERROR'],
      list.map((d) => [String(d.id), d.service, shortCommit(d.commit), shortCommit(d.previousCommit), d.state, progressText(d), formatTime(d.createdAt), formatTime(d.finishedAt), orDash(d.error)]),
    );
    print(Boolean(p.values.json), { deployments: list }, list.length === 0 ? summary : `${table}\n${summary}`);
    return EXIT_OK;
  },
};

const deploy: Command = {
  path: ['scheduler', 'deploy'],
  summary: 'roll a service out to a release, a few nodes at a time',
  usage: 'hydra scheduler deploy <service> <commit> [--max-parallel N (default 1)] [--batch-timeout MS (default 120000)] [--health-window MS (default 5000)] [--json]',
  async run(args) {
    const p = parseCommandArgs(joinNegativeValues(args, ['--max-parallel', '--batch-timeout', '--health-window']), { 'max-parallel': { type: 'string' }, 'batch-timeout': { type: 'string' }, 'health-window': { type: 'string' } }, ['<service>', '<commit>']);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const values = p.values as { 'max-parallel'?: string; 'batch-timeout'?: string; 'health-window'?: string };
    const [service, release] = p.positionals as [string, string];
    if (!/^[0-9a-f]{7,40}$/.test(release)) throw new UsageError(`<commit>: '${release}' is invalid; expected a commit id (7 to 40 hex digits)`);
    const maxParallel = values['max-parallel'] === undefined ? undefined : wholeNumber('--max-parallel', values['max-parallel'], 1);
    const batchTimeoutMs = values['batch-timeout'] === undefined ? undefined : wholeNumber('--batch-timeout', values['batch-timeout'], 1);
    const healthWindowMs = values['health-window'] === undefined ? undefined : wholeNumber('--health-window', values['health-window'], 0);
    const d = await withDatabase((db) =>
      startDeployment(db, { service, release, actor: cliActor(), ...(maxParallel !== undefined ? { maxParallel } : {}), ...(batchTimeoutMs !== undefined ? { batchTimeoutMs } : {}), ...(healthWindowMs !== undefined ? { healthWindowMs } : {}) }),
    );
    const human =
      `deployment ${d.id} of ${d.service} to ${shortCommit(d.commit)} (from ${d.previousCommit === null ? "the node's own code" : shortCommit(d.previousCommit)}) recorded: ` +
      `the leader rolls it out ${plural(d.maxParallel, 'node')} at a time from its next tick, each batch healthy within ${d.batchTimeoutMs} ms or the batch goes back; ` +
      `follow it with 'hydra scheduler deployments --service ${d.service}'`;
    print(Boolean(p.values.json), { deployment: d }, human);
    return EXIT_OK;
  },
};

const rollbackCommand: Command = {
  path: ['scheduler', 'rollback'],
  summary: 'stop an unfinished rollout, or roll a service back to its previous release',
  usage: 'hydra scheduler rollback <service> [--json]',
  async run(args) {
    const p = parseCommandArgs(args, {}, ['<service>']);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const service = p.positionals[0]!;
    const { kind, deployment: d } = await withDatabase((db) => rollback(db, service, cliActor()));
    const previous = d.previousCommit === null ? "the node's own code" : shortCommit(d.previousCommit);
    const human =
      kind === 'stopped'
        ? `deployment ${d.id} of ${d.service} to ${shortCommit(d.commit)} stopped (${d.state}): the nodes it reached go back to ${previous} on the leader's next tick, the others were never touched`
        : `${d.service} rolls back to ${shortCommit(d.commit)} (from ${previous}): deployment ${d.id} recorded; the leader rolls it out from its next tick ('hydra scheduler deployments --service ${d.service}')`;
    print(Boolean(p.values.json), { kind, deployment: d }, human);
    return EXIT_OK;
  },
};

export const deployCommands: Command[] = [deployments, deploy, rollbackCommand];
