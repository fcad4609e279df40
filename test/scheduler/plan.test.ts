/** Placement planner: constraints, pins, spread, capacity, stability, cordon/drain, scale, reasons. */
import t from 'tap';
import { plan, type PlanInput, type PlanNode, type PlanPlacement, type PlanResult, type PlanSpec } from '../../scheduler/placement/plan.js';

function node(id: string, o: Partial<PlanNode> = {}): PlanNode {
  return { id, labels: {}, capacity: {}, state: 'up', adminState: 'active', ...o };
}

function spec(name: string, o: Partial<PlanSpec> = {}): PlanSpec {
  return { name, instances: 1, constraints: {}, pinnedNode: null, cpu: 0, memoryMb: 0, spread: null, ...o };
}

/** What the caller does with a plan: drop the removals, write the changes. */
function apply(placements: PlanPlacement[], result: PlanResult): PlanPlacement[] {
  const key = (p: { service: string; instance: number }): string => `${p.service}#${p.instance}`;
  const gone = new Set(result.removals.map(key));
  const next = placements.filter((p) => !gone.has(key(p))).map((p) => ({ ...p }));
  let id = Math.max(0, ...placements.map((p) => p.id));
  for (const c of result.changes) {
    const row = next.find((p) => key(p) === key(c));
    if (row) Object.assign(row, { nodeId: c.nodeId, unplaceable: c.unplaceable });
    else next.push({ id: ++id, service: c.service, instance: c.instance, nodeId: c.nodeId, unplaceable: c.unplaceable });
  }
  return next;
}

/** Plans from nothing and applies, returning the resulting placements. */
function settle(specs: PlanSpec[], nodes: PlanNode[], placements: PlanPlacement[] = []): PlanPlacement[] {
  return apply(placements, plan({ specs, nodes, placements }));
}

function where(placements: PlanPlacement[], service: string): (string | null)[] {
  return placements.filter((p) => p.service === service).sort((a, b) => a.instance - b.instance).map((p) => p.nodeId);
}

function count(placements: PlanPlacement[], nodeId: string): number {
  return placements.filter((p) => p.nodeId === nodeId).length;
}

t.test('places new instances only on nodes matching every constraint', async (t) => {
  const nodes = [node('a', { labels: { site: 'north' } }), node('b', { labels: { site: 'south', tier: 'edge' } }), node('c', { labels: { site: 'south', tier: 'core' } })];
  const r = plan({ specs: [spec('ingest', { instances: 2, constraints: { site: 'south' } }), spec('edge', { instances: 2, constraints: { site: 'south', tier: 'edge' } })], nodes, placements: [] });
  t.same(r.changes.filter((c) => c.service === 'edge').map((c) => c.nodeId), ['b', 'b']);
  t.same(r.changes.filter((c) => c.service === 'ingest').map((c) => c.nodeId), ['c', 'b'], 'edge (planned first, by name) already holds b');
  t.match(r.changes[0], { kind: 'placed', reason: 'new instance', from: null, unplaceable: null });
  t.same(r.removals, []);
});

t.test('a pinned service runs only on its node, and stays there while the node is down', async (t) => {
  const nodes = [node('n1'), node('n2'), node('n3')];
  const specs = [spec('cam', { instances: 2, pinnedNode: 'n2' })];
  const placed = settle(specs, nodes);
  t.same(where(placed, 'cam'), ['n2', 'n2'], 'the pin beats spread');
  const down = nodes.map((n) => (n.id === 'n2' ? { ...n, state: 'down' as const } : n));
  t.same(plan({ specs, nodes: down, placements: placed }), { changes: [], removals: [] }, 'not moved off a down node');
});

t.test('a changed pin moves the instance to the new pin', async (t) => {
  const nodes = [node('n1'), node('n2'), node('n3')];
  const placed = settle([spec('cam', { pinnedNode: 'n1' })], nodes);
  const r = plan({ specs: [spec('cam', { pinnedNode: 'n3' })], nodes, placements: placed });
  t.same(r.changes, [{ service: 'cam', instance: 0, nodeId: 'n3', unplaceable: null, kind: 'moved', reason: 'pinned to n3', from: 'n1' }]);
});

t.test('changed constraints move the instances that no longer match', async (t) => {
  const nodes = [node('a', { labels: { site: 'north' } }), node('b', { labels: { site: 'south' } })];
  const placed = settle([spec('ingest', { instances: 2 })], nodes);
  t.same(where(placed, 'ingest'), ['a', 'b']);
  const r = plan({ specs: [spec('ingest', { instances: 2, constraints: { site: 'south' } })], nodes, placements: placed });
  t.same(r.changes, [{ service: 'ingest', instance: 0, nodeId: 'b', unplaceable: null, kind: 'moved', reason: 'constraints changed: site=south does not match a[site=north]', from: 'a' }]);
});

t.test('spreads instances across nodes', async (t) => {
  const nodes = [node('a'), node('b'), node('c')];
  t.same(where(settle([spec('s', { instances: 3 })], nodes), 's'), ['a', 'b', 'c']);
  const six = settle([spec('s', { instances: 6 })], nodes);
  t.same(nodes.map((n) => count(six, n.id)), [2, 2, 2]);
});

t.test('spreads across a label: 3 nodes in 2 racks', async (t) => {
  const nodes = [node('a', { labels: { rack: 'r1' } }), node('b', { labels: { rack: 'r1' } }), node('c', { labels: { rack: 'r2' } })];
  t.same(where(settle([spec('s', { instances: 2, spread: 'rack' })], nodes), 's'), ['a', 'c'], 'one per rack');
  const four = settle([spec('s', { instances: 4, spread: 'rack' })], nodes);
  t.same(where(four, 's'), ['a', 'c', 'b', 'c'], 'two per rack; within r1 the less loaded node');
  const unlabelled = [...nodes, node('d'), node('e')];
  const five = settle([spec('s', { instances: 5, spread: 'rack' })], unlabelled);
  t.equal(five.filter((p) => p.nodeId === 'd' || p.nodeId === 'e').length, 2, 'nodes without the label share one domain');
});

t.test('spread prefers the node with fewer placements of any service on a tie', async (t) => {
  const nodes = [node('a'), node('b')];
  const placed = settle([spec('busy', { instances: 1, pinnedNode: 'a' })], nodes);
  t.same(where(settle([spec('busy', { pinnedNode: 'a' }), spec('s')], nodes, placed), 's'), ['b']);
});

t.test('respects capacity across services; a node without a resource key is unlimited in it', async (t) => {
  const nodes = [node('a', { capacity: { cpu: 4, memoryMb: 1024 } }), node('b', { capacity: { cpu: 2 } })];
  const specs = [spec('alpha', { cpu: 2, memoryMb: 512 }), spec('beta', { instances: 3, cpu: 1, memoryMb: 600 })];
  const r = plan({ specs, nodes, placements: [] });
  t.same(r.changes.map((c) => [c.service, c.instance, c.nodeId]), [['alpha', 0, 'a'], ['beta', 0, 'b'], ['beta', 1, 'b'], ['beta', 2, null]]);
  t.same(r.changes[3], {
    service: 'beta', instance: 2, nodeId: null, kind: 'unplaceable', reason: 'new instance', from: null,
    unplaceable: 'no capacity: needs cpu 1, memoryMb 600 per instance; free: a cpu 2/memoryMb 512, b cpu 0',
  }, 'a lacks memory (alpha holds 512 of 1024), b lacks cpu; b has no memory limit');
});

t.test('an impossible spec places what fits and reports the rest unplaceable', async (t) => {
  const nodes = [node('a', { capacity: { cpu: 4, memoryMb: 8192 } }), node('b', { capacity: { cpu: 2, memoryMb: 8192 } })];
  const r = plan({ specs: [spec('big', { instances: 5, cpu: 2, memoryMb: 512 })], nodes, placements: [] });
  t.same(r.changes.map((c) => c.nodeId), ['a', 'b', 'a', null, null], 'never silently dropped');
  for (const c of r.changes.slice(3)) {
    t.match(c, { kind: 'unplaceable', unplaceable: 'no capacity: needs cpu 2, memoryMb 512 per instance; free: a cpu 0/memoryMb 7168, b cpu 0/memoryMb 7680' });
  }
});

t.test('fractional reservations add up without rounding errors', async (t) => {
  const r = plan({ specs: [spec('tiny', { instances: 4, cpu: 0.1 })], nodes: [node('a', { capacity: { cpu: 0.3 } })], placements: [] });
  t.same(r.changes.map((c) => c.nodeId), ['a', 'a', 'a', null]);
  t.equal(r.changes[3]?.unplaceable, 'no capacity: needs cpu 0.1, memoryMb 0 per instance; free: a cpu 0');
});

t.test('unplaceable reasons say exactly why', async (t) => {
  const north = [node('a', { labels: { site: 'north' } }), node('b', { labels: { site: 'north' } })];
  const reason = (s: PlanSpec, nodes: PlanNode[]): string | null => plan({ specs: [s], nodes, placements: [] }).changes[0]?.unplaceable ?? null;
  t.equal(reason(spec('s', { constraints: { site: 'south' } }), north), 'no node matches constraints site=south (nodes: a[site=north], b[site=north])');
  t.equal(reason(spec('s', { constraints: { site: 'north', rack: 'r1' } }), north), 'no node matches constraints rack=r1,site=north (nodes: a[rack unset,site=north], b[rack unset,site=north])');
  t.equal(reason(spec('s', { pinnedNode: 'n9' }), north), 'pinned node n9 is not registered');
  t.equal(reason(spec('s', { pinnedNode: 'n3' }), [node('n3', { adminState: 'cordoned' })]), 'pinned node n3 is cordoned');
  t.equal(reason(spec('s', { pinnedNode: 'n3' }), [node('n3', { adminState: 'draining' })]), 'pinned node n3 is draining');
  t.equal(reason(spec('s', { pinnedNode: 'n3' }), [node('n3', { state: 'down' })]), 'pinned node n3 is down');
  t.equal(reason(spec('s', { pinnedNode: 'a', constraints: { site: 'south' } }), north), 'pinned node a does not match constraints site=south (a[site=north])');
  t.equal(reason(spec('s', { pinnedNode: 'a', cpu: 2 }), [node('a', { capacity: { cpu: 1 } })]), 'no capacity: needs cpu 2, memoryMb 0 per instance; free: a cpu 1');
  t.equal(reason(spec('s'), [node('a', { state: 'down' }), node('b', { state: 'down' })]), 'no node is up');
  t.equal(reason(spec('s', { constraints: { site: 'north' } }), [...north.map((n) => ({ ...n, state: 'down' as const })), node('c')]), 'no node matching constraints site=north is up (a: down, b: down)');
  t.equal(reason(spec('s'), [node('a', { adminState: 'cordoned' })]), 'all matching nodes are cordoned or draining (a: cordoned)');
  t.equal(reason(spec('s'), []), 'no node is registered');
});

t.test('reasons list at most 10 nodes', async (t) => {
  const nodes = Array.from({ length: 15 }, (_, i) => node(`n${String(i).padStart(2, '0')}`, { labels: { site: 'north' } }));
  const r = plan({ specs: [spec('s', { constraints: { site: 'south' } })], nodes, placements: [] });
  t.equal(r.changes[0]?.unplaceable, `no node matches constraints site=south (nodes: ${nodes.slice(0, 10).map((n) => `${n.id}[site=north]`).join(', ')}, …and 5 more)`);
});

t.test('a stable world plans no changes: plan, apply, plan again', async (t) => {
  const nodes = [node('a', { labels: { rack: 'r1' }, capacity: { cpu: 4 } }), node('b', { labels: { rack: 'r2' }, capacity: { cpu: 4 } }), node('c', { labels: { rack: 'r2' }, adminState: 'cordoned' })];
  const specs = [
    spec('web', { instances: 3, spread: 'rack', cpu: 1 }),
    spec('big', { instances: 4, cpu: 3 }),
    spec('cam', { pinnedNode: 'n9' }),
    spec('zeta', { instances: 2, cpu: 1 }),
  ];
  const input: PlanInput = { specs, nodes, placements: [] };
  const first = plan(input);
  t.ok(first.changes.some((c) => c.kind === 'unplaceable'), 'the world includes unplaceable instances');
  t.same(plan({ ...input, placements: apply([], first) }), { changes: [], removals: [] });
});

t.test('an unplaceable reason is worded against the final load, so replanning is quiet', async (t) => {
  // alpha#1 fails while x still has cpu 1 free; beta then takes it. The next plan starts from
  // x full, so the reason must already say so, or every plan would rewrite it.
  const nodes = [node('x', { capacity: { cpu: 4 } })];
  const specs = [spec('alpha', { instances: 2, cpu: 3 }), spec('beta', { instances: 2, cpu: 1 })];
  const first = plan({ specs, nodes, placements: [] });
  t.same(first.changes.map((c) => c.nodeId), ['x', null, 'x', null]);
  t.equal(first.changes[1]?.unplaceable, 'no capacity: needs cpu 3, memoryMb 0 per instance; free: x cpu 0');
  t.same(plan({ specs, nodes, placements: apply([], first) }).changes, []);
});

t.test('an unplaceable instance is retried and placed once a node can take it', async (t) => {
  const specs = [spec('s', { constraints: { site: 'south' } })];
  const placed = settle(specs, [node('a')]);
  t.equal(placed[0]?.nodeId, null);
  const r = plan({ specs, nodes: [node('a'), node('b', { labels: { site: 'south' } })], placements: placed });
  t.same(r.changes, [{ service: 's', instance: 0, nodeId: 'b', unplaceable: null, kind: 'placed', reason: 'retried: placeable now', from: null }]);
});

t.test('a node joining does not move running instances', async (t) => {
  const specs = [spec('s', { instances: 4 })];
  const placed = settle(specs, [node('a'), node('b')]);
  t.same(plan({ specs, nodes: [node('a'), node('b'), node('c')], placements: placed }), { changes: [], removals: [] });
  const r = plan({ specs: [spec('s', { instances: 5 })], nodes: [node('a'), node('b'), node('c')], placements: placed });
  t.same(r.changes.map((c) => [c.instance, c.nodeId]), [[4, 'c']], 'it gets new instances');
});

t.test('capacity over-commit of a running instance is not a reason to move it', async (t) => {
  const nodes = [node('a', { capacity: { cpu: 1 } }), node('b', { capacity: { cpu: 8 } })];
  const placements: PlanPlacement[] = [
    { id: 1, service: 's', instance: 0, nodeId: 'a', unplaceable: null },
    { id: 2, service: 's', instance: 1, nodeId: 'a', unplaceable: null },
  ];
  t.same(plan({ specs: [spec('s', { instances: 2, cpu: 1 })], nodes, placements }), { changes: [], removals: [] });
});

t.test('a down node: unpinned instances move to healthy nodes, naming the node', async (t) => {
  const nodes = [node('a'), node('b'), node('c')];
  const specs = [spec('s', { instances: 3 }), spec('cam', { pinnedNode: 'b' })];
  const placed = settle(specs, nodes);
  t.same(where(placed, 's'), ['a', 'c', 'b'], 'cam (planned first) holds b, so s takes it last');
  const down = nodes.map((n) => (n.id === 'b' ? { ...n, state: 'down' as const } : n));
  const r = plan({ specs, nodes: down, placements: placed });
  t.same(r.changes, [{ service: 's', instance: 2, nodeId: 'a', unplaceable: null, kind: 'moved', reason: 'node b is down', from: 'b' }], 'cam stays with b');
  t.same(plan({ specs, nodes: down, placements: apply(placed, r) }).changes, []);
});

t.test('a down node with nowhere to go: moved off as unplaceable, with both reasons', async (t) => {
  const specs = [spec('s')];
  const placed = settle(specs, [node('a')]);
  const r = plan({ specs, nodes: [node('a', { state: 'down' })], placements: placed });
  t.same(r.changes, [{ service: 's', instance: 0, nodeId: null, unplaceable: 'no node is up', kind: 'unplaceable', reason: 'node a is down', from: 'a' }]);
});

t.test('a node that no longer exists: its instances move', async (t) => {
  const specs = [spec('s', { instances: 2 })];
  const placed = settle(specs, [node('a'), node('b')]);
  const r = plan({ specs, nodes: [node('a')], placements: placed });
  t.same(r.changes, [{ service: 's', instance: 1, nodeId: 'a', unplaceable: null, kind: 'moved', reason: 'node b no longer exists', from: 'b' }]);
});

t.test('cordon keeps what runs and takes nothing new', async (t) => {
  const nodes = [node('a'), node('b')];
  const placed = settle([spec('s', { instances: 2 })], nodes);
  const cordoned = [node('a'), node('b', { adminState: 'cordoned' })];
  t.same(plan({ specs: [spec('s', { instances: 2 })], nodes: cordoned, placements: placed }), { changes: [], removals: [] });
  const r = plan({ specs: [spec('s', { instances: 4 }), spec('t')], nodes: cordoned, placements: placed });
  t.same(r.changes.map((c) => c.nodeId), ['a', 'a', 'a']);
});

t.test('drain moves everything off, pinned instances included', async (t) => {
  const nodes = [node('a'), node('b'), node('c')];
  const specs = [spec('s', { instances: 3 }), spec('t', { instances: 3 }), spec('cam', { pinnedNode: 'b' })];
  const placed = settle(specs, nodes);
  const drained = nodes.map((n) => (n.id === 'b' ? { ...n, adminState: 'draining' as const } : n));
  const r = plan({ specs, nodes: drained, placements: placed });
  t.equal(r.changes.length, count(placed, 'b'));
  t.ok(r.changes.every((c) => c.from === 'b' && c.reason === 'node b is draining'));
  t.match(r.changes.find((c) => c.service === 'cam'), { kind: 'unplaceable', nodeId: null, unplaceable: 'pinned node b is draining' });
  t.equal(count(apply(placed, r), 'b'), 0);
});

t.test('scale down removes the highest instances', async (t) => {
  const nodes = [node('a'), node('b')];
  const placed = settle([spec('s', { instances: 4 })], nodes);
  const r = plan({ specs: [spec('s', { instances: 2 })], nodes, placements: placed });
  t.same(r.changes, []);
  t.same(r.removals, [
    { service: 's', instance: 2, nodeId: 'a', reason: 'scaled down to 2' },
    { service: 's', instance: 3, nodeId: 'b', reason: 'scaled down to 2' },
  ]);
});

t.test('a removed spec removes its placements, unplaced ones too', async (t) => {
  const nodes = [node('a')];
  const placed = settle([spec('s', { instances: 2 }), spec('gone', { instances: 2, constraints: { site: 'x' } }), spec('old')], nodes);
  const r = plan({ specs: [spec('s', { instances: 2 })], nodes, placements: placed });
  t.same(r.removals, [
    { service: 'gone', instance: 0, nodeId: null, reason: 'service gone has no spec' },
    { service: 'gone', instance: 1, nodeId: null, reason: 'service gone has no spec' },
    { service: 'old', instance: 0, nodeId: 'a', reason: 'service old has no spec' },
  ]);
  t.same(r.changes, []);
});

t.test('the freed capacity of a removal is available in the same plan', async (t) => {
  const nodes = [node('a', { capacity: { cpu: 1 } })];
  const placed = settle([spec('old', { cpu: 1 })], nodes);
  const r = plan({ specs: [spec('new', { cpu: 1 })], nodes, placements: placed });
  t.same(r.changes.map((c) => c.nodeId), ['a']);
});

t.test('deterministic: input order does not change the plan', async (t) => {
  const nodes = [node('c', { labels: { rack: 'r2' } }), node('a', { labels: { rack: 'r1' } }), node('b', { labels: { rack: 'r1' } }), node('d', { labels: { rack: 'r2' } })];
  const specs = [spec('zeta', { instances: 3, spread: 'rack' }), spec('alpha', { instances: 5 }), spec('mid', { instances: 2, cpu: 1 })];
  const placements: PlanPlacement[] = [
    { id: 7, service: 'alpha', instance: 3, nodeId: 'd', unplaceable: null },
    { id: 3, service: 'alpha', instance: 0, nodeId: 'a', unplaceable: null },
  ];
  const one = plan({ specs, nodes, placements });
  const two = plan({ specs: [...specs].reverse(), nodes: [...nodes].reverse(), placements: [...placements].reverse() });
  t.same(two, one);
  t.same(one.changes.map((c) => `${c.service}#${c.instance}`), ['alpha#1', 'alpha#2', 'alpha#4', 'mid#0', 'mid#1', 'zeta#0', 'zeta#1', 'zeta#2'], 'specs by name, instances by index');
});

t.test('a duplicate placement row is removed, the oldest kept', async (t) => {
  const placements: PlanPlacement[] = [
    { id: 9, service: 's', instance: 0, nodeId: 'b', unplaceable: null },
    { id: 4, service: 's', instance: 0, nodeId: 'a', unplaceable: null },
  ];
  const r = plan({ specs: [spec('s')], nodes: [node('a'), node('b')], placements });
  t.same(r, { changes: [], removals: [{ service: 's', instance: 0, nodeId: 'b', reason: 'duplicate of placement 4' }] });
});

t.test('idempotent on random worlds: plan(apply(plan(x))) changes nothing', async (t) => {
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)]!;
  for (let world = 0; world < 200; world++) {
    const nodes = Array.from({ length: 1 + rand(6) }, (_, i) => node(`n${i}`, {
      labels: rand(4) === 0 ? {} : { rack: pick(['r1', 'r2']), site: pick(['north', 'south']) },
      capacity: rand(3) === 0 ? {} : { cpu: 1 + rand(4), memoryMb: 512 * (1 + rand(4)) },
      state: rand(5) === 0 ? 'down' : 'up',
      adminState: pick(['active', 'active', 'active', 'cordoned', 'draining'] as const),
    }));
    const specs = Array.from({ length: 1 + rand(4) }, (_, i) => spec(`s${i}`, {
      instances: rand(6),
      constraints: rand(3) === 0 ? { site: pick(['north', 'south']) } : {},
      pinnedNode: rand(6) === 0 ? `n${rand(7)}` : null,
      cpu: rand(3) * 0.5,
      memoryMb: rand(3) * 256,
      spread: pick([null, 'rack']),
    }));
    const placed = settle(specs, nodes);
    const again = plan({ specs, nodes, placements: placed });
    if (again.changes.length > 0 || again.removals.length > 0) {
      t.fail(`world ${world} replanned with changes`, { again, specs, nodes });
      return;
    }
    // Then the world changes (a node goes down, another is drained) and settles once more.
    const shaken = nodes.map((n) => (rand(3) === 0 ? { ...n, state: 'down' as const } : rand(4) === 0 ? { ...n, adminState: 'draining' as const } : n));
    const resettled = settle(specs, shaken, placed);
    const quiet = plan({ specs, nodes: shaken, placements: resettled });
    if (quiet.changes.length > 0 || quiet.removals.length > 0) {
      t.fail(`world ${world} replanned with changes after a shake`, { quiet, specs, shaken });
      return;
    }
  }
  t.pass('200 worlds replanned quietly');
});
