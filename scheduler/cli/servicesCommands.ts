/**
 * `hydra scheduler services | placements`: what should run (the specs, with how much of it runs
 * and what cannot be placed) and where each instance is, desired beside actual.
 */
import { EXIT_OK, helpOr, parseCommandArgs, type Command } from '../../core/cli.js';
import { UnknownNodeError } from '../errors.js';
import { listPlacements } from '../placements.js';
import { listNodes } from '../registry.js';
import { getServiceSpec } from '../specs.js';
import type { Placement } from '../types.js';
import { withDatabase } from './database.js';
import { releaseCommits } from '../store/releases.js';
import { actualOf, instanceName, readSnapshot } from './snapshot.js';
import { formatNumber, formatPairs, orDash, plural, print, renderTable, shortCommit } from '../../core/table.js';

const services: Command = {
  path: ['scheduler', 'services'],
  summary: 'list the service specs: instances running/desired, constraints, reservations, release, unplaceable',
  usage: 'hydra scheduler services [--json]',
  async run(args) {
    const p = parseCommandArgs(args);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const { s, commits } = await withDatabase(async (db) => {
      const s = await readSnapshot(db);
      return { s, commits: await releaseCommits(db, s.specs.flatMap((x) => (x.releaseId === null ? [] : [x.releaseId]))) };
    });
    const rows = s.specs.map((spec) => {
      const mine = s.placements.filter((x) => x.service === spec.name && x.instance < spec.instances);
      const unplaceable = mine.filter((x) => x.nodeId === null && x.unplaceable !== null);
      return {
        spec,
        placed: mine.filter((x) => x.nodeId !== null).length,
        running: mine.filter((x) => actualOf(x).state === 'running').length,
        unplaceable,
        release: spec.releaseId === null ? null : commits.get(spec.releaseId) ?? null,
      };
    });
    const desired = rows.reduce((n, r) => n + r.spec.instances, 0);
    const running = rows.reduce((n, r) => n + r.running, 0);
    const unplaceable = rows.reduce((n, r) => n + r.unplaceable.length, 0);
    // Instances the leader has not planned yet (a new or scaled-up spec before its next tick).
    const unplanned = rows.reduce((n, r) => n + r.spec.instances - s.placements.filter((x) => x.service === r.spec.name && x.instance < r.spec.instances).length, 0);
    const summary =
      s.specs.length === 0
        ? "0 services: define one with 'hydra scheduler place <service> …'"
        : `${plural(s.specs.length, 'service')}: ${running} of ${plural(desired, 'instance')} running; ${unplaceable} unplaceable${unplanned > 0 ? `; ${unplanned} not planned yet (the leader places them on its next tick)` : ''}`;
    const json = {
      services: rows.map((r) => ({
        name: r.spec.name,
        instances: { desired: r.spec.instances, placed: r.placed, running: r.running },
        constraints: r.spec.constraints,
        pinnedNode: r.spec.pinnedNode,
        cpu: r.spec.cpu,
        memoryMb: r.spec.memoryMb,
        spread: r.spec.spread,
        releaseId: r.spec.releaseId,
        release: r.release,
        module: r.spec.module,
        // Names only: the values may be credentials, and the database is where they are read.
        env: Object.keys(r.spec.config).sort(),
        generation: r.spec.generation,
        unplaceable: { count: r.unplaceable.length, reason: r.unplaceable[0]?.unplaceable ?? null },
      })),
      summary: { services: s.specs.length, desired, running, unplaceable, unplanned },
    };
    const table = renderTable(
      ['NAME', 'INSTANCES', 'CONSTRAINTS', 'PIN', 'CPU/MEMORY', 'SPREAD', 'RELEASE', 'UNPLACEABLE'],
      rows.map((r) => [
        r.spec.name,
        `${r.running}/${r.spec.instances}`,
        formatPairs(r.spec.constraints),
        orDash(r.spec.pinnedNode),
        `${formatNumber(r.spec.cpu)}/${r.spec.memoryMb} MB`,
        orDash(r.spec.spread),
        r.spec.releaseId === null ? '-' : r.release === null ? `#${r.spec.releaseId}` : shortCommit(r.release),
        r.unplaceable.length === 0 ? '-' : `${r.unplaceable.length}: ${r.unplaceable[0]!.unplaceable}`,
      ]),
    );
    print(Boolean(p.values.json), json, s.specs.length === 0 ? summary : `${table}\n${summary}`);
    return EXIT_OK;
  },
};

function versioned(state: string, version: string | null): string {
  return version === null ? state : `${state}@${shortCommit(version)}`;
}

function placementJson(p: Placement) {
  return {
    service: p.service,
    instance: p.instance,
    name: instanceName(p),
    nodeId: p.nodeId,
    desiredState: p.desiredState,
    desiredVersion: p.desiredVersion,
    unplaceable: p.unplaceable,
    actual: actualOf(p),
    updatedAt: p.updatedAt,
  };
}

function placementsSummary(list: Placement[]): string {
  if (list.length === 0) return '0 placements';
  const placed = list.filter((p) => p.nodeId !== null);
  const byState = new Map<string, number>();
  for (const p of placed) byState.set(actualOf(p).state, (byState.get(actualOf(p).state) ?? 0) + 1);
  const states = [...byState].map(([state, n]) => `${n} ${state}`).join(', ');
  const unplaceable = list.length - placed.length;
  return `${plural(list.length, 'placement')}: ${states || '0 placed'}${unplaceable > 0 ? `; ${unplaceable} unplaceable` : ''}`;
}

const placements: Command = {
  path: ['scheduler', 'placements'],
  summary: 'list the placements: node, desired and actual state/version, port, health, unplaceable reason',
  usage: 'hydra scheduler placements [--node <id>] [--service <name>] [--json]',
  async run(args) {
    const p = parseCommandArgs(args, { node: { type: 'string' }, service: { type: 'string' } });
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const { node, service } = p.values as { node?: string; service?: string };
    const list = await withDatabase(async (db) => {
      // An unknown name in a filter is a mistake, not an empty result.
      if (node !== undefined) {
        const ids = (await listNodes(db)).map((n) => n.id);
        if (!ids.includes(node)) throw new UnknownNodeError(node, ids);
      }
      if (service !== undefined) await getServiceSpec(db, service);
      return listPlacements(db, { ...(node !== undefined ? { nodeId: node } : {}), ...(service !== undefined ? { service } : {}) });
    });
    const table = renderTable(
      ['INSTANCE', 'NODE', 'DESIRED', 'ACTUAL', 'PORT', 'HEALTHY', 'REASON'],
      list.map((x) => {
        const a = actualOf(x);
        const why = x.unplaceable ?? (a.state === 'failed' ? a.detail : null);
        return [
          instanceName(x),
          orDash(x.nodeId),
          versioned(x.desiredState, x.desiredVersion),
          x.nodeId === null ? '-' : versioned(a.state, a.version),
          orDash(a.port),
          a.healthy === null ? '-' : a.healthy ? 'yes' : 'no',
          orDash(why),
        ];
      }),
    );
    const summary = placementsSummary(list);
    print(Boolean(p.values.json), { placements: list.map(placementJson) }, list.length === 0 ? summary : `${table}\n${summary}`);
    return EXIT_OK;
  },
};

export const servicesCommands: Command[] = [services, placements];
