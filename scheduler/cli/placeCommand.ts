/**
 * `hydra scheduler place SERVICE [options]`: creates or updates a service spec, then shows a dry
 * run of the planner against the current nodes and placements: where each instance would go and
 * why, or why it cannot go anywhere. Nothing is placed here; the leader plans, applies and audits
 * on its next tick, from the same rules (scheduler/placement/plan.ts).
 *
 * An impossible spec is accepted (exit 0) and said to be unplaceable with the reason: the nodes
 * it needs may register later. Option values are checked before anything is written (exit 2);
 * a pin to an unknown node or an unknown release is a failure (exit 1).
 */
import { EXIT_OK, UsageError, helpOr, parseCommandArgs, type Command } from '../../core/cli.js';
import { SpecInputError, UnknownNodeError, UnknownServiceError } from '../errors.js';
import { plan } from '../placement/plan.js';
import { listNodes } from '../registry.js';
import { getServiceSpec, putServiceSpec, validateSpecInput, type ServiceSpecInput } from '../specs.js';
import type { ServiceSpec } from '../types.js';
import { withDatabase } from './database.js';
import { cliActor, decimal, joinNegativeValues, keyValues, wholeNumber } from './options.js';
import { findReadyRelease, releaseCommits } from '../store/releases.js';
import { instanceName, readSnapshot, type Snapshot } from './snapshot.js';
import { formatNumber, formatPairs, orDash, print, renderTable, shortCommit } from '../../core/table.js';

const USAGE =
  'hydra scheduler place <service> [--instances N] [--constraint KEY=VALUE]... [--pin NODE] [--cpu CORES] [--memory MB] ' +
  "[--spread LABEL] [--module PATH] [--env NAME=VALUE]... [--release COMMIT] [--json]   (an empty value, e.g. --pin '', clears pin, spread, module or release)";

/** The spec field a SpecInputError names → the option people typed. */
const OPTION_OF: Record<string, string> = {
  name: '<service>',
  instances: '--instances',
  constraints: '--constraint',
  pinnedNode: '--pin',
  cpu: '--cpu',
  memoryMb: '--memory',
  spread: '--spread',
  module: '--module',
  config: '--env',
  releaseId: '--release',
};

interface PlaceValues {
  instances?: string;
  constraint?: string[];
  pin?: string;
  cpu?: string;
  memory?: string;
  spread?: string;
  module?: string;
  env?: string[];
  release?: string;
  json?: boolean;
}

/** The fields given on the command line; '' clears a nullable one. */
function givenFields(v: PlaceValues): Omit<ServiceSpecInput, 'name' | 'releaseId'> {
  const out: Omit<ServiceSpecInput, 'name' | 'releaseId'> = {};
  if (v.instances !== undefined) out.instances = wholeNumber('--instances', v.instances, 0);
  if (v.cpu !== undefined) out.cpu = decimal('--cpu', v.cpu);
  if (v.memory !== undefined) out.memoryMb = wholeNumber('--memory', v.memory, 0);
  if (v.constraint !== undefined) out.constraints = keyValues('--constraint', v.constraint);
  if (v.env !== undefined) out.config = keyValues('--env', v.env);
  if (v.pin !== undefined) out.pinnedNode = v.pin === '' ? null : v.pin;
  if (v.spread !== undefined) out.spread = v.spread === '' ? null : v.spread;
  if (v.module !== undefined) out.module = v.module === '' ? null : v.module;
  if (v.release !== undefined && v.release !== '' && !/^[0-9a-f]{7,40}$/.test(v.release)) {
    throw new UsageError(`--release: '${v.release}' is invalid; expected a commit id (7 to 40 hex digits)`);
  }
  return out;
}

/** putServiceSpec's field check, before anything is written, as a usage error naming the option. */
function checked(input: ServiceSpecInput): void {
  try {
    validateSpecInput(input);
  } catch (err) {
    if (!(err instanceof SpecInputError)) throw err;
    const option = OPTION_OF[err.field.split('.')[0]!] ?? err.field;
    throw new UsageError(`${option}: ${err.message}`);
  }
}

/** The spec fields people set, as they read them; commits for the release ids involved. */
const SHOWN: Array<[keyof ServiceSpec, string]> = [
  ['instances', 'instances'],
  ['cpu', 'cpu'],
  ['memoryMb', 'memory'],
  ['constraints', 'constraints'],
  ['pinnedNode', 'pin'],
  ['spread', 'spread'],
  ['releaseId', 'release'],
  ['module', 'module'],
  ['config', 'env'],
];
/** Shown for a new spec even when left at their default. */
const ALWAYS = new Set<keyof ServiceSpec>(['instances', 'cpu', 'memoryMb']);

function show(field: keyof ServiceSpec, spec: ServiceSpec, commits: Map<number, string>): string {
  if (field === 'constraints') return formatPairs(spec.constraints);
  if (field === 'config') return Object.keys(spec.config).sort().join(',') || '-';
  if (field === 'cpu') return formatNumber(spec.cpu);
  if (field === 'memoryMb') return `${spec.memoryMb} MB`;
  if (field === 'releaseId') return spec.releaseId === null ? '-' : shortCommit(commits.get(spec.releaseId) ?? null);
  return orDash(spec[field] as string | number | null);
}

/** `instances 2 → 3, cpu 0.5 → 1` for an update; the spec's settings for a new one. */
function describeSpec(spec: ServiceSpec, before: ServiceSpec | null, commits: Map<number, string>): { text: string; changed: string[] } {
  if (before === null) {
    const set = SHOWN.filter(([f]) => ALWAYS.has(f) || show(f, spec, commits) !== '-');
    const text = set.map(([f, label]) => `${label} ${show(f, spec, commits)}`).join(', ');
    return { text: `service ${spec.name} created (generation ${spec.generation}): ${text}`, changed: set.map(([f]) => f) };
  }
  const changed = SHOWN.filter(([f]) => JSON.stringify(before[f]) !== JSON.stringify(spec[f]));
  if (changed.length === 0) return { text: `service ${spec.name} unchanged (generation ${spec.generation})`, changed: [] };
  const text = changed.map(([f, label]) => `${label} ${show(f, before, commits)} → ${show(f, spec, commits)}`).join(', ');
  return { text: `service ${spec.name} updated (generation ${spec.generation}): ${text}`, changed: changed.map(([f]) => f) };
}

export interface DryRunRow {
  name: string;
  instance: number;
  /** placed/moved: gets a node on the next tick; stays: keeps its node; removed: scaled down. */
  action: 'placed' | 'moved' | 'stays' | 'unplaceable' | 'removed';
  nodeId: string | null;
  from: string | null;
  reason: string | null;
}

/** The planner's verdict on one service's instances, as the next tick would see it. */
function dryRun(s: Snapshot, spec: ServiceSpec): DryRunRow[] {
  const result = plan({ specs: s.specs, nodes: s.nodes, placements: s.placements });
  const rows: DryRunRow[] = [];
  for (let instance = 0; instance < spec.instances; instance++) {
    const name = instanceName({ service: spec.name, instance });
    const change = result.changes.find((c) => c.service === spec.name && c.instance === instance);
    const stored = s.placements.find((p) => p.service === spec.name && p.instance === instance);
    if (change) rows.push({ name, instance, action: change.kind, nodeId: change.nodeId, from: change.from, reason: change.unplaceable ?? change.reason });
    // No change: the planner keeps it where it is, or it stays unplaceable for the same reason.
    else if (stored?.nodeId) rows.push({ name, instance, action: 'stays', nodeId: stored.nodeId, from: null, reason: null });
    else rows.push({ name, instance, action: 'unplaceable', nodeId: null, from: null, reason: stored?.unplaceable ?? 'not planned' });
  }
  for (const r of result.removals.filter((x) => x.service === spec.name)) {
    rows.push({ name: instanceName(r), instance: r.instance, action: 'removed', nodeId: r.nodeId, from: null, reason: r.reason });
  }
  return rows;
}

function verdict(spec: ServiceSpec, rows: DryRunRow[]): string {
  const stuck = rows.filter((r) => r.action === 'unplaceable');
  if (spec.instances === 0) return `${spec.name}: 0 instances desired; nothing runs`;
  if (stuck.length === 0) return `${spec.name}: all ${spec.instances} instance(s) placeable; the leader applies this on its next tick`;
  const share = stuck.length === spec.instances ? `all ${spec.instances} instance(s) are` : `${stuck.length} of ${spec.instances} instances ${stuck.length === 1 ? 'is' : 'are'}`;
  return `${spec.name}: accepted, but ${share} UNPLACEABLE: ${stuck[0]!.reason}`;
}

const place: Command = {
  path: ['scheduler', 'place'],
  summary: 'create or update a service spec and show where the planner would put its instances',
  usage: USAGE,
  async run(args) {
    const p = parseCommandArgs(
      joinNegativeValues(args, ['--instances', '--cpu', '--memory']),
      {
        instances: { type: 'string' },
        constraint: { type: 'string', multiple: true },
        pin: { type: 'string' },
        cpu: { type: 'string' },
        memory: { type: 'string' },
        spread: { type: 'string' },
        module: { type: 'string' },
        env: { type: 'string', multiple: true },
        release: { type: 'string' },
      },
      ['<service>'],
    );
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const values = p.values as PlaceValues;
    const name = p.positionals[0]!;
    const given = givenFields(values);
    checked({ name, ...given });
    const out = await withDatabase(async (db) => {
      const before = await getServiceSpec(db, name).catch((err: unknown) => {
        if (err instanceof UnknownServiceError) return null;
        throw err;
      });
      if (given.pinnedNode) {
        const ids = (await listNodes(db)).map((n) => n.id);
        if (!ids.includes(given.pinnedNode)) throw new UnknownNodeError(given.pinnedNode, ids);
      }
      let releaseId = before?.releaseId ?? null;
      if (values.release !== undefined) releaseId = values.release === '' ? null : (await findReadyRelease(db, values.release, 'use')).id;
      // An update keeps every field not given on the command line.
      const input: ServiceSpecInput = before === null ? { name, ...given, releaseId } : { ...before, ...given, name, releaseId };
      checked(input);
      const spec = await putServiceSpec(db, input, cliActor());
      const snapshot = await readSnapshot(db);
      const commits = await releaseCommits(db, [before?.releaseId ?? null, spec.releaseId].filter((x): x is number => x !== null));
      return { before, spec, snapshot, commits };
    });
    const { before, spec, snapshot, commits } = out;
    const rows = dryRun(snapshot, spec);
    const described = describeSpec(spec, before, commits);
    const unplaceable = rows.filter((r) => r.action === 'unplaceable');
    // Placements keep their desired version when the spec's release changes: moving running
    // instances to a release is a rolling update, one batch of nodes at a time.
    const keepsVersion = before !== null && before.releaseId !== spec.releaseId && rows.some((r) => r.action === 'stays');
    const note = keepsVersion ? `\nnote: running instances keep their release; roll the new one out with 'hydra scheduler deploy ${spec.name} <commit>'` : '';
    const table = renderTable(
      ['INSTANCE', 'PLAN', 'NODE', 'REASON'],
      rows.map((r) => [r.name, r.action, r.action === 'moved' ? `${r.from ?? '-'} → ${r.nodeId}` : orDash(r.nodeId), orDash(r.reason)]),
    );
    const human = [described.text, ...(rows.length > 0 ? ["dry run of the leader's next tick:", table] : []), `${verdict(spec, rows)}${note}`].join('\n');
    print(
      Boolean(values.json),
      {
        service: spec,
        created: before === null,
        changed: described.changed,
        plan: rows,
        unplaceable: { count: unplaceable.length, reason: unplaceable[0]?.reason ?? null },
      },
      human,
    );
    return EXIT_OK;
  },
};

export const placeCommands: Command[] = [place];
