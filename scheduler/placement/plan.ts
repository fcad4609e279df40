/**
 * The placement planner: from the service specs, the registered nodes and the current placements,
 * decides which instance runs on which node, what moves and what goes away. A pure function (no
 * database, no clock) so the leader can call it every tick and the rules can be tested as tables;
 * the caller writes the result and audits each change with its reason.
 *
 * Why the rules are what they are:
 * - Stability first. A running instance moves only when it must: its node is gone, down or
 *   draining, or the spec no longer allows it there. A move is a restart and drops in-flight work.
 *   Capacity over-commit is not a reason: reservations are estimates, and moving would only shift
 *   the over-commit (and the churn) to another node.
 * - A pinned instance belongs to its machine (its sensors, its disk), so it stays with the node
 *   even while the node is down; running it anywhere else would be wrong.
 * - Cordon means "nothing new here", drain means "empty this node": an operator's two steps
 *   before maintenance.
 * - Spread over a failure domain (a rack, a site, else the node itself) so losing one domain loses
 *   a share of a service, not all of it.
 * - Idempotent: plan(apply(plan(x))) changes nothing, so re-planning every tick makes no churn and
 *   no audit noise. That is why an unplaceable reason is worded against the plan's final load,
 *   which is exactly the load the next plan starts from.
 * - Deterministic: specs by name, instances by index, ties by node id, so the same world always
 *   gives the same plan on whichever scheduler leads.
 * - Never silently drop an instance: what cannot be placed is reported with a reason for people.
 */
import type { NodeRecord } from '../registry.js';
import type { Placement, ServiceSpec } from '../types.js';

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** The parts of a spec, node and placement the planner reads (full records fit). */
export type PlanSpec = Pick<ServiceSpec, 'name' | 'instances' | 'constraints' | 'pinnedNode' | 'cpu' | 'memoryMb' | 'spread'>;
export type PlanNode = Pick<NodeRecord, 'id' | 'labels' | 'capacity' | 'state' | 'adminState'>;
export type PlanPlacement = Pick<Placement, 'id' | 'service' | 'instance' | 'nodeId' | 'unplaceable'>;

export interface PlanInput {
  specs: PlanSpec[];
  nodes: PlanNode[];
  placements: PlanPlacement[];
}

export interface PlacementChange {
  service: string;
  instance: number;
  /** null = unplaceable. */
  nodeId: string | null;
  /** Why it cannot be placed, for people (CLI and audit), when nodeId is null. */
  unplaceable: string | null;
  kind: 'placed' | 'moved' | 'unplaceable';
  /** Why this change: 'new instance', 'node n2 is down', 'pinned to n3', … */
  reason: string;
  /** The node it ran on before, if any. */
  from: string | null;
}

export interface Removal {
  service: string;
  instance: number;
  nodeId: string | null;
  reason: string;
}

export interface PlanResult {
  changes: PlacementChange[];
  removals: Removal[];
}

const RESOURCES = ['cpu', 'memoryMb'] as const;
type Resource = (typeof RESOURCES)[number];

/** Reasons list at most this many nodes, so an audit row stays readable on a large fleet. */
const MAX_LISTED = 10;
/** Fractional reservations (0.1 + 0.2) must not fail a capacity check by a rounding error. */
const EPSILON = 1e-9;

/** What is assigned to each node so far in this plan (all services). */
interface Ledger {
  used: Map<string, Record<Resource, number>>;
  total: Map<string, number>;
  /** service -> node id -> instances of that service on it. */
  perService: Map<string, Map<string, number>>;
}

/** An instance that needs a node in this plan: new, moved off its node, or retried. */
interface Pending {
  spec: PlanSpec;
  instance: number;
  prior: PlanPlacement | undefined;
  /** Why it moves; null when it had no node. */
  moveReason: string | null;
  nodeId: string | null;
}

// ---------------------------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------------------------

export function plan(input: PlanInput): PlanResult {
  const nodes = [...input.nodes].sort(byKey((n) => n.id));
  const nodeById = new Map(nodes.map((n) => [n.id, n]));
  const specs = [...input.specs].sort(byKey((s) => s.name));
  const { current, removals } = sortOut(input.placements, new Map(specs.map((s) => [s.name, s])));

  // Everything that stays is reserved first, so new and moved instances see the real load and a
  // moved instance no longer counts on the node it leaves.
  const ledger: Ledger = { used: new Map(), total: new Map(), perService: new Map() };
  const pending: Pending[] = [];
  for (const spec of specs) {
    for (let instance = 0; instance < spec.instances; instance++) {
      const prior = current.get(slotKey(spec.name, instance));
      const priorNode = prior?.nodeId ?? null;
      const moveReason = priorNode === null ? null : whyMove(spec, priorNode, nodeById.get(priorNode));
      if (priorNode !== null && moveReason === null) reserve(ledger, spec, priorNode);
      else pending.push({ spec, instance, prior, moveReason, nodeId: null });
    }
  }

  for (const p of pending) {
    p.nodeId = choose(p.spec, nodes, ledger);
    if (p.nodeId !== null) reserve(ledger, p.spec, p.nodeId);
  }

  const changes: PlacementChange[] = [];
  for (const p of pending) {
    const change = toChange(p, p.nodeId === null ? explain(p.spec, nodes, nodeById, ledger) : null);
    if (change) changes.push(change);
  }
  return { changes, removals };
}

// ---------------------------------------------------------------------------------------------
// Current placements: what is kept, what goes away
// ---------------------------------------------------------------------------------------------

function slotKey(service: string, instance: number): string {
  return `${service}#${instance}`;
}

/** Splits placements into the one current row per (service, instance) and the removals. */
function sortOut(placements: PlanPlacement[], specs: Map<string, PlanSpec>): { current: Map<string, PlanPlacement>; removals: Removal[] } {
  const current = new Map<string, PlanPlacement>();
  const removals: Removal[] = [];
  const remove = (p: PlanPlacement, reason: string): void => {
    removals.push({ service: p.service, instance: p.instance, nodeId: p.nodeId, reason });
  };
  const ordered = [...placements].sort((a, b) => compare(a.service, b.service) || a.instance - b.instance || a.id - b.id);
  for (const p of ordered) {
    const spec = specs.get(p.service);
    const key = slotKey(p.service, p.instance);
    const kept = current.get(key);
    if (!spec) remove(p, `service ${p.service} has no spec`);
    else if (p.instance >= spec.instances) remove(p, `scaled down to ${spec.instances}`);
    // The store keeps (service, instance) unique; if that ever breaks, the oldest row wins.
    else if (kept) remove(p, `duplicate of placement ${kept.id}`);
    else current.set(key, p);
  }
  return { current, removals };
}

/** Why an instance must leave its node, or null when it stays. */
function whyMove(spec: PlanSpec, nodeId: string, node: PlanNode | undefined): string | null {
  if (!node) return `node ${nodeId} no longer exists`;
  if (spec.pinnedNode !== null && spec.pinnedNode !== nodeId) return `pinned to ${spec.pinnedNode}`;
  if (!matches(spec.constraints, node.labels)) return `constraints changed: ${describeConstraints(spec.constraints)} does not match ${describeNode(node, spec.constraints)}`;
  if (node.adminState === 'draining') return `node ${nodeId} is draining`;
  // A pinned instance waits for its node: there is nowhere else it may run.
  if (node.state === 'down' && spec.pinnedNode !== nodeId) return `node ${nodeId} is down`;
  return null;
}

function toChange(p: Pending, unplaceable: string | null): PlacementChange | null {
  const from = p.prior?.nodeId ?? null;
  const base = { service: p.spec.name, instance: p.instance, nodeId: p.nodeId, unplaceable, from };
  if (p.moveReason !== null) return { ...base, kind: p.nodeId === null ? 'unplaceable' : 'moved', reason: p.moveReason };
  if (!p.prior) return { ...base, kind: p.nodeId === null ? 'unplaceable' : 'placed', reason: 'new instance' };
  // A retried instance that is still unplaceable for the same reason is not news.
  if (p.nodeId === null && p.prior.unplaceable === unplaceable) return null;
  if (p.nodeId !== null) return { ...base, kind: 'placed', reason: p.prior.unplaceable === null ? 'not placed yet' : 'retried: placeable now' };
  return { ...base, kind: 'unplaceable', reason: p.prior.unplaceable === null ? 'not placed yet' : 'retried: unplaceable for another reason' };
}

// ---------------------------------------------------------------------------------------------
// Choosing a node
// ---------------------------------------------------------------------------------------------

function matches(constraints: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(constraints).every(([k, v]) => labels[k] === v);
}

function isOpen(node: PlanNode): boolean {
  return node.state === 'up' && node.adminState === 'active';
}

function free(node: PlanNode, ledger: Ledger, r: Resource): number {
  const cap = node.capacity[r];
  // A node that does not declare a resource does not limit it.
  return cap === undefined ? Infinity : cap - (ledger.used.get(node.id)?.[r] ?? 0);
}

function fits(spec: PlanSpec, node: PlanNode, ledger: Ledger): boolean {
  return RESOURCES.every((r) => spec[r] <= free(node, ledger, r) + EPSILON);
}

function schedulable(spec: PlanSpec, node: PlanNode, ledger: Ledger): boolean {
  return isOpen(node)
    && (spec.pinnedNode === null || spec.pinnedNode === node.id)
    && matches(spec.constraints, node.labels)
    && fits(spec, node, ledger);
}

/** A node without the spread label shares the domain '' with the others that lack it. */
function domainOf(node: PlanNode, spread: string | null): string {
  return spread === null ? node.id : node.labels[spread] ?? '';
}

/**
 * The schedulable node whose spread domain holds the fewest instances of the service, then the
 * least loaded node, then the lowest id. `nodes` is sorted by id, so the first minimum wins.
 */
function choose(spec: PlanSpec, nodes: PlanNode[], ledger: Ledger): string | null {
  const onNode = ledger.perService.get(spec.name);
  const inDomain = new Map<string, number>();
  for (const n of nodes) {
    const d = domainOf(n, spec.spread);
    inDomain.set(d, (inDomain.get(d) ?? 0) + (onNode?.get(n.id) ?? 0));
  }
  let best: { id: string; domain: number; total: number } | null = null;
  for (const n of nodes) {
    if (!schedulable(spec, n, ledger)) continue;
    const c = { id: n.id, domain: inDomain.get(domainOf(n, spec.spread)) ?? 0, total: ledger.total.get(n.id) ?? 0 };
    if (!best || c.domain < best.domain || (c.domain === best.domain && c.total < best.total)) best = c;
  }
  return best?.id ?? null;
}

function reserve(ledger: Ledger, spec: PlanSpec, nodeId: string): void {
  const used = ledger.used.get(nodeId) ?? { cpu: 0, memoryMb: 0 };
  for (const r of RESOURCES) used[r] += spec[r];
  ledger.used.set(nodeId, used);
  ledger.total.set(nodeId, (ledger.total.get(nodeId) ?? 0) + 1);
  const onNode = ledger.perService.get(spec.name) ?? new Map<string, number>();
  onNode.set(nodeId, (onNode.get(nodeId) ?? 0) + 1);
  ledger.perService.set(spec.name, onNode);
}

// ---------------------------------------------------------------------------------------------
// Unplaceable reasons, for people: the first filter that left no node, with the evidence
// ---------------------------------------------------------------------------------------------

function explain(spec: PlanSpec, nodes: PlanNode[], nodeById: Map<string, PlanNode>, ledger: Ledger): string {
  if (spec.pinnedNode !== null) return explainPinned(spec, spec.pinnedNode, nodeById.get(spec.pinnedNode), ledger);
  if (nodes.length === 0) return 'no node is registered';
  const constraints = describeConstraints(spec.constraints);
  const matching = nodes.filter((n) => matches(spec.constraints, n.labels));
  if (matching.length === 0) return `no node matches constraints ${constraints} (nodes: ${list(nodes.map((n) => describeNode(n, spec.constraints)))})`;
  const up = matching.filter((n) => n.state === 'up');
  if (up.length === 0) {
    if (!nodes.some((n) => n.state === 'up')) return 'no node is up';
    return `no node matching constraints ${constraints} is up (${list(matching.map((n) => `${n.id}: down`))})`;
  }
  const active = up.filter(isOpen);
  if (active.length === 0) return `all matching nodes are cordoned or draining (${list(up.map((n) => `${n.id}: ${n.adminState}`))})`;
  return noCapacity(spec, active, ledger);
}

function explainPinned(spec: PlanSpec, pin: string, node: PlanNode | undefined, ledger: Ledger): string {
  if (!node) return `pinned node ${pin} is not registered`;
  if (node.state === 'down') return `pinned node ${pin} is down`;
  if (node.adminState !== 'active') return `pinned node ${pin} is ${node.adminState}`;
  if (!matches(spec.constraints, node.labels)) return `pinned node ${pin} does not match constraints ${describeConstraints(spec.constraints)} (${describeNode(node, spec.constraints)})`;
  return noCapacity(spec, [node], ledger);
}

function noCapacity(spec: PlanSpec, nodes: PlanNode[], ledger: Ledger): string {
  const needs = RESOURCES.map((r) => `${r} ${num(spec[r])}`).join(', ');
  const frees = nodes.map((n) => {
    const limited = RESOURCES.filter((r) => n.capacity[r] !== undefined);
    return `${n.id} ${limited.map((r) => `${r} ${num(Math.max(0, free(n, ledger, r)))}`).join('/')}`;
  });
  return `no capacity: needs ${needs} per instance; free: ${list(frees)}`;
}

function describeConstraints(constraints: Record<string, string>): string {
  const pairs = Object.keys(constraints).sort(compare).map((k) => `${k}=${constraints[k]}`);
  return pairs.length === 0 ? '(none)' : pairs.join(',');
}

/** A node with only the labels the constraints ask about, e.g. `a[site=north,rack unset]`. */
function describeNode(node: PlanNode, constraints: Record<string, string>): string {
  const labels = Object.keys(constraints).sort(compare).map((k) => {
    const v = node.labels[k];
    return v === undefined ? `${k} unset` : `${k}=${v}`;
  });
  return `${node.id}[${labels.join(',')}]`;
}

function list(items: string[]): string {
  const shown = items.slice(0, MAX_LISTED).join(', ');
  return items.length > MAX_LISTED ? `${shown}, …and ${items.length - MAX_LISTED} more` : shown;
}

/** Reservations add up in floating point; people should read 0.3, not 0.30000000000000004. */
function num(x: number): string {
  return String(Math.round(x * 1000) / 1000);
}

// Plain code-unit order: locale-independent, so every scheduler sorts the same way.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byKey<T>(key: (x: T) => string): (a: T, b: T) => number {
  return (a, b) => compare(key(a), key(b));
}
