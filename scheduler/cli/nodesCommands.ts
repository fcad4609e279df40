/**
 * `hydra scheduler nodes | cordon | uncordon | drain`: the registered nodes with what is reserved
 * on them, and the operator's intent for one node. The admin state changes only the scheduler's
 * records; the leader acts on it at its next tick, and the messages say so.
 */
import { EXIT_OK, helpOr, parseCommandArgs, type Command } from '../../core/cli.js';
import { listPlacements } from '../placements.js';
import { setNodeAdminState, type AdminState, type NodeRecord } from '../registry.js';
import { listServiceSpecs } from '../specs.js';
import { withDatabase } from './database.js';
import { cliActor } from './options.js';
import { instanceName, readSnapshot, reservedByNode, type Reserved } from './snapshot.js';
import { formatNumber, formatPairs, orDash, plural, print, renderTable } from '../../core/table.js';

/** `cpu 1.5/4, memory 512/8192 MB`: reserved/declared; a resource a node does not declare is unlimited. */
function capacityText(capacity: Record<string, number>, reserved: Reserved): string {
  const parts: string[] = [];
  if (capacity.cpu !== undefined || reserved.cpu > 0) parts.push(`cpu ${formatNumber(reserved.cpu)}/${capacity.cpu ?? 'unlimited'}`);
  if (capacity.memoryMb !== undefined || reserved.memoryMb > 0) parts.push(`memory ${reserved.memoryMb}/${capacity.memoryMb ?? 'unlimited'} MB`);
  return parts.length === 0 ? '-' : parts.join(', ');
}

function nodesSummary(nodes: NodeRecord[]): { text: string; counts: Record<string, number> } {
  const count = (f: (n: NodeRecord) => boolean) => nodes.filter(f).length;
  const counts = {
    total: nodes.length,
    up: count((n) => n.state === 'up'),
    down: count((n) => n.state === 'down'),
    cordoned: count((n) => n.adminState === 'cordoned'),
    draining: count((n) => n.adminState === 'draining'),
  };
  if (nodes.length === 0) return { text: "0 nodes: none has registered yet (a node registers when 'hydra node start' runs with DATABASE_URL)", counts };
  const admin = [counts.cordoned > 0 ? `${counts.cordoned} cordoned` : '', counts.draining > 0 ? `${counts.draining} draining` : ''].filter(Boolean);
  return { text: `${plural(nodes.length, 'node')}: ${counts.up} up, ${counts.down} down; ${admin.length > 0 ? admin.join(', ') : 'all active'}`, counts };
}

const nodes: Command = {
  path: ['scheduler', 'nodes'],
  summary: 'list the registered nodes: state, admin state, labels, reserved capacity, heartbeat age',
  usage: 'hydra scheduler nodes [--json]',
  async run(args) {
    const p = parseCommandArgs(args);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const s = await withDatabase(readSnapshot);
    const reserved = reservedByNode(s);
    const rows = s.nodes.map((n) => ({
      node: n,
      reserved: reserved.get(n.id) ?? { cpu: 0, memoryMb: 0, instances: 0 },
      // Database clock on both sides; a tenth of a second is as precise as a heartbeat gets.
      ageS: Math.max(0, Math.round((s.now.getTime() - n.heartbeatAt.getTime()) / 100) / 10),
    }));
    const summary = nodesSummary(s.nodes);
    const json = {
      nodes: rows.map(({ node: n, reserved: r, ageS }) => ({
        id: n.id,
        state: n.state,
        adminState: n.adminState,
        labels: n.labels,
        capacity: n.capacity,
        reserved: { cpu: r.cpu, memoryMb: r.memoryMb },
        instances: r.instances,
        heartbeatAgeS: ageS,
        heartbeatAt: n.heartbeatAt,
        registeredAt: n.registeredAt,
        address: n.address,
        version: n.version,
      })),
      summary: summary.counts,
    };
    const table = renderTable(
      ['ID', 'STATE', 'ADMIN', 'LABELS', 'CAPACITY (RESERVED/TOTAL)', 'INSTANCES', 'HEARTBEAT', 'ADDRESS', 'VERSION'],
      rows.map(({ node: n, reserved: r, ageS }) => [n.id, n.state, n.adminState, formatPairs(n.labels), capacityText(n.capacity, r), String(r.instances), `${Math.floor(ageS)}s ago`, orDash(n.address), orDash(n.version)]),
    );
    print(Boolean(p.values.json), json, s.nodes.length === 0 ? summary.text : `${table}\n${summary.text}`);
    return EXIT_OK;
  },
};

/** What the new admin state means for the node's instances, in one sentence. */
function consequence(id: string, state: AdminState, instances: string[], pinned: string[]): string {
  const count = plural(instances.length, 'instance');
  if (state === 'cordoned' && instances.length === 0) return 'it takes no new instances (it runs none now)';
  if (state === 'cordoned') return `it takes no new instances; its ${count} keep${instances.length === 1 ? 's' : ''} running there`;
  if (state === 'active') return "it takes new instances from the leader's next tick";
  if (instances.length === 0) return 'it runs nothing, and takes no new instances';
  const movable = instances.length - pinned.length;
  const moving = movable === instances.length ? `its ${count} move to other nodes on the leader's next tick` : `${plural(movable, 'instance')} move to other nodes on the leader's next tick`;
  // A pinned instance may run nowhere else (plan.ts): it stops and waits, unplaceable.
  const stuck = pinned.length === 0 ? '' : `; ${pinned.length} pinned to it (${pinned.join(', ')}) stop${pinned.length === 1 ? 's' : ''} and stay${pinned.length === 1 ? 's' : ''} unplaceable until 'hydra scheduler uncordon ${id}'`;
  return `${moving}${stuck}`;
}

function adminCommand(verb: 'cordon' | 'uncordon' | 'drain', state: AdminState, summary: string): Command {
  return {
    path: ['scheduler', verb],
    summary,
    usage: `hydra scheduler ${verb} <node> [--json]`,
    async run(args) {
      const p = parseCommandArgs(args, {}, ['<node>']);
      if (helpOr(p, this.usage!)) return EXIT_OK;
      const id = p.positionals[0]!;
      const result = await withDatabase(async (db) => {
        const { previous, node } = await setNodeAdminState(db, id, state, cliActor());
        const placed = await listPlacements(db, { nodeId: id });
        const pinnedServices = new Set((await listServiceSpecs(db)).filter((s) => s.pinnedNode === id).map((s) => s.name));
        return { previous, node, instances: placed.map(instanceName), pinned: placed.filter((x) => pinnedServices.has(x.service)).map(instanceName) };
      });
      const { previous, node, instances, pinned } = result;
      const human = previous === state ? `node ${id} is already ${state}; nothing changed` : `node ${id} ${state} (was ${previous}): ${consequence(id, state, instances, pinned)}`;
      print(Boolean(p.values.json), { node: id, previous, adminState: node.adminState, changed: previous !== state, instances, pinned }, human);
      return EXIT_OK;
    },
  };
}

export const nodesCommands: Command[] = [
  nodes,
  adminCommand('cordon', 'cordoned', 'stop placing new instances on a node (what runs there stays)'),
  adminCommand('uncordon', 'active', 'make a cordoned or draining node take instances again'),
  adminCommand('drain', 'draining', "move a node's instances to other nodes (before maintenance)"),
];
