/**
 * `hydra scheduler nodes | services | placements | place | cordon | uncordon | drain`, run as a
 * user would (the built bin/hydra), each test on a database of its own. Deployments and jobs:
 * cliRollout.test.ts and cliJobs.test.ts.
 */
import t from 'tap';
import { reportActual } from '../../scheduler/placements.js';
import { setNodeAdminState } from '../../scheduler/registry.js';
import { putServiceSpec } from '../../scheduler/specs.js';
import { addNode, addRelease, cliDatabase, hydra, leaderTick, lines } from './schedulerCli.js';

t.test('nodes: one row per node with reserved capacity and heartbeat age, a summary, and the values in --json', async (t) => {
  const db = await cliDatabase(t);
  await addNode(db.pool, 'n1', { site: 'north', rack: 'r1' }, { cpu: 4, memoryMb: 8192 });
  await addNode(db.pool, 'n2', { site: 'north', rack: 'r2' }, { cpu: 2 });
  await addNode(db.pool, 'n3', { site: 'south' });
  await db.pool.query("UPDATE nodes SET state = 'down', heartbeat_at = now() - interval '90 seconds' WHERE id = 'n3'");
  await setNodeAdminState(db.pool, 'n2', 'cordoned', 'test');
  await putServiceSpec(db.pool, { name: 'parse', instances: 2, cpu: 1.5, memoryMb: 512, constraints: { site: 'north' } }, 'test');
  await leaderTick(db.pool);

  const [human, json] = await Promise.all([db.scheduler('nodes'), db.json<{ nodes: Array<Record<string, unknown>>; summary: unknown }>('nodes')]);
  t.equal(human.code, 0, human.stderr);
  // Ages move while the test runs: whole seconds, n3's about 90.
  t.same(lines(human.stdout).map((l) => l.replace(/\| (\d)s ago \|/, '| Ns ago |').replace(/\| 9\ds ago \|/, '| 9Ns ago |')), [
    'ID | STATE | ADMIN | LABELS | CAPACITY (RESERVED/TOTAL) | INSTANCES | HEARTBEAT | ADDRESS | VERSION',
    'n1 | up | active | rack=r1,site=north | cpu 3/4, memory 1024/8192 MB | 2 | Ns ago | https://n1.example:443 | 0.1.0',
    'n2 | up | cordoned | rack=r2,site=north | cpu 0/2 | 0 | Ns ago | https://n2.example:443 | 0.1.0',
    'n3 | down | active | site=south | - | 0 | 9Ns ago | https://n3.example:443 | 0.1.0',
    '3 nodes: 2 up, 1 down; 1 cordoned',
  ]);
  t.match(json.nodes[0], { id: 'n1', state: 'up', adminState: 'active', labels: { site: 'north', rack: 'r1' }, capacity: { cpu: 4, memoryMb: 8192 }, reserved: { cpu: 3, memoryMb: 1024 }, instances: 2, address: 'https://n1.example:443', version: '0.1.0' });
  t.ok((json.nodes[2]!.heartbeatAgeS as number) >= 90 && (json.nodes[2]!.heartbeatAgeS as number) < 95, 'the age is measured on the database clock');
  t.same(json.summary, { total: 3, up: 2, down: 1, cordoned: 1, draining: 0 });
  t.notOk('hostKey' in json.nodes[0]!, 'the host key (the claim on the id) is not shown');
});

t.test('services: instances running/desired, constraints, pin, reservations, spread, release, unplaceable with the first reason', async (t) => {
  const db = await cliDatabase(t);
  await addNode(db.pool, 'n1', { site: 'north' }, { cpu: 4 });
  await addNode(db.pool, 'n2', { site: 'north' }, { cpu: 4 });
  const release = await addRelease(db.pool, 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678');
  await putServiceSpec(db.pool, { name: 'parse', instances: 2, cpu: 0.5, memoryMb: 256, constraints: { site: 'north' }, spread: 'rack', releaseId: release }, 'test');
  await putServiceSpec(db.pool, { name: 'sensor', pinnedNode: 'n2' }, 'test');
  await putServiceSpec(db.pool, { name: 'gpu', instances: 2, constraints: { gpu: 'yes' } }, 'test');
  await leaderTick(db.pool);
  const placed = (await db.pool.query<{ node_id: string; instance: number }>("SELECT node_id, instance FROM placements WHERE service = 'parse' ORDER BY instance")).rows;
  await reportActual(db.pool, placed[0]!.node_id, [{ service: 'parse', instance: 0, state: 'running', version: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', port: 4100, pid: 1234, healthy: true, detail: null }]);
  await putServiceSpec(db.pool, { name: 'late', instances: 1 }, 'test');

  const [human, json] = await Promise.all([db.scheduler('services'), db.json<{ services: Array<Record<string, unknown>>; summary: unknown }>('services')]);
  t.equal(human.code, 0, human.stderr);
  t.same(lines(human.stdout), [
    'NAME | INSTANCES | CONSTRAINTS | PIN | CPU/MEMORY | SPREAD | RELEASE | UNPLACEABLE',
    'gpu | 0/2 | gpu=yes | - | 0/0 MB | - | - | 2: no node matches constraints gpu=yes (nodes: n1[gpu unset], n2[gpu unset])',
    'late | 0/1 | - | - | 0/0 MB | - | - | -',
    'parse | 1/2 | site=north | - | 0.5/256 MB | rack | a1b2c3d4e5f6 | -',
    'sensor | 0/1 | - | n2 | 0/0 MB | - | - | -',
    '4 services: 1 of 6 instances running; 2 unplaceable; 1 not planned yet (the leader places them on its next tick)',
  ]);
  const parse = json.services.find((s) => s.name === 'parse');
  t.match(parse, { instances: { desired: 2, placed: 2, running: 1 }, constraints: { site: 'north' }, pinnedNode: null, cpu: 0.5, memoryMb: 256, spread: 'rack', releaseId: release, release: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', unplaceable: { count: 0, reason: null } });
  t.match(json.services.find((s) => s.name === 'gpu'), { unplaceable: { count: 2, reason: /^no node matches constraints gpu=yes/ } });
  t.same(json.summary, { services: 4, desired: 6, running: 1, unplaceable: 2, unplanned: 1 });
});

t.test('placements: desired beside actual (pending until the placed node reports), filters, unknown node or service exit 1', async (t) => {
  const db = await cliDatabase(t);
  await addNode(db.pool, 'n1');
  await addNode(db.pool, 'n2');
  await putServiceSpec(db.pool, { name: 'parse', instances: 3 }, 'test');
  await putServiceSpec(db.pool, { name: 'gpu', constraints: { gpu: 'yes' } }, 'test');
  await leaderTick(db.pool);
  // parse#1 and #3 on n1, #2 on n2 (least loaded, then lowest id).
  await reportActual(db.pool, 'n1', [
    { service: 'parse', instance: 0, state: 'running', version: 'c0ffee0000000000000000000000000000000000', port: 4100, pid: 11, healthy: true, detail: null },
    { service: 'parse', instance: 2, state: 'failed', version: null, port: null, pid: null, healthy: false, detail: 'exited with code 1' },
  ]);
  await db.pool.query("UPDATE placements SET desired_version = 'c0ffee0000000000000000000000000000000000' WHERE service = 'parse' AND instance = 0");
  // As after a move: the report still names the old node, so it is not the new node's state.
  await reportActual(db.pool, 'n2', [{ service: 'parse', instance: 1, state: 'running', version: null, port: 4101, pid: 12, healthy: true, detail: null }]);
  await db.pool.query("UPDATE placements SET node_id = 'n1' WHERE service = 'parse' AND instance = 1");

  const [all, json, byNode, byService, ghostNode, ghostService] = await Promise.all([
    db.scheduler('placements'),
    db.json<{ placements: Array<Record<string, unknown>> }>('placements'),
    db.scheduler('placements', '--node', 'n1', '--service', 'parse'),
    db.json<{ placements: Array<{ name: string }> }>('placements', '--service', 'gpu'),
    db.scheduler('placements', '--node', 'ghost'),
    db.scheduler('placements', '--service', 'ghost'),
  ]);
  t.equal(all.code, 0, all.stderr);
  t.same(lines(all.stdout), [
    'INSTANCE | NODE | DESIRED | ACTUAL | PORT | HEALTHY | REASON',
    'gpu#1 | - | running | - | - | - | no node matches constraints gpu=yes (nodes: n1[gpu unset], n2[gpu unset])',
    'parse#1 | n1 | running@c0ffee000000 | running@c0ffee000000 | 4100 | yes | -',
    'parse#2 | n1 | running | pending | - | - | -',
    'parse#3 | n1 | running | failed | - | no | exited with code 1',
    '4 placements: 1 running, 1 pending, 1 failed; 1 unplaceable',
  ]);
  t.match(json.placements.find((p) => p.name === 'parse#1'), { service: 'parse', instance: 0, nodeId: 'n1', desiredState: 'running', desiredVersion: 'c0ffee0000000000000000000000000000000000', unplaceable: null, actual: { state: 'running', version: 'c0ffee0000000000000000000000000000000000', port: 4100, pid: 11, healthy: true } });
  t.match(json.placements.find((p) => p.name === 'parse#2'), { nodeId: 'n1', actual: { state: 'pending', port: null, healthy: null } }, "n2's report is not shown as n1's");
  t.equal(byNode.code, 0);
  t.same(lines(byNode.stdout).map((l) => l.split(' | ')[0]), ['INSTANCE', 'parse#1', 'parse#2', 'parse#3', '3 placements: 1 running, 1 pending, 1 failed']);
  t.same(byService.placements.map((p) => p.name), ['gpu#1']);
  t.equal(ghostNode.code, 1);
  t.equal(ghostNode.stderr, "hydra scheduler placements: unknown node 'ghost' (known nodes: n1, n2); see 'hydra scheduler nodes'\n");
  t.equal(ghostService.code, 1);
  t.equal(ghostService.stderr, "hydra scheduler placements: unknown service 'ghost' (known services: gpu, parse); define it with 'hydra scheduler place ghost …'\n");
});

t.test('place: creates a spec and shows the dry run; an update keeps the fields not given', async (t) => {
  const db = await cliDatabase(t);
  await addNode(db.pool, 'n1', { site: 'north', rack: 'r1' }, { cpu: 2 });
  await addNode(db.pool, 'n2', { site: 'north', rack: 'r2' }, { cpu: 2 });
  await addNode(db.pool, 'n3', { site: 'south', rack: 'r3' }, { cpu: 2 });
  const created = await db.scheduler('place', 'parse', '--instances', '2', '--cpu', '0.5', '--memory', '256', '--constraint', 'site=north', '--spread', 'rack', '--env', 'LOG_LEVEL=debug');
  t.equal(created.code, 0, created.stderr);
  t.same(lines(created.stdout), [
    'service parse created (generation 1): instances 2, cpu 0.5, memory 256 MB, constraints site=north, spread rack, env LOG_LEVEL',
    "dry run of the leader's next tick:",
    'INSTANCE | PLAN | NODE | REASON',
    'parse#1 | placed | n1 | new instance',
    'parse#2 | placed | n2 | new instance',
    'parse: all 2 instance(s) placeable; the leader applies this on its next tick',
  ]);
  const stored = await db.pool.query('SELECT count(*)::int AS n FROM placements');
  t.equal(stored.rows[0].n, 0, 'a dry run: nothing is placed by the CLI');
  await leaderTick(db.pool);

  const updated = await db.json<{ service: Record<string, unknown>; created: boolean; changed: string[]; plan: Array<Record<string, unknown>> }>('place', 'parse', '--instances', '3');
  t.match(updated.service, { name: 'parse', instances: 3, cpu: 0.5, memoryMb: 256, constraints: { site: 'north' }, spread: 'rack', config: { LOG_LEVEL: 'debug' }, generation: 2 });
  t.equal(updated.created, false);
  t.same(updated.changed, ['instances']);
  t.same(updated.plan, [
    { name: 'parse#1', instance: 0, action: 'stays', nodeId: 'n1', from: null, reason: null },
    { name: 'parse#2', instance: 1, action: 'stays', nodeId: 'n2', from: null, reason: null },
    { name: 'parse#3', instance: 2, action: 'placed', nodeId: 'n1', from: null, reason: 'new instance' },
  ]);

  const scaled = await db.scheduler('place', 'parse', '--instances', '1', '--cpu', '1');
  t.equal(scaled.code, 0, scaled.stderr);
  t.match(scaled.stdout, /^service parse updated \(generation 3\): instances 3 → 1, cpu 0\.5 → 1\n/);
  t.match(scaled.stdout, /\nparse#2 +removed +n2 +scaled down to 1\n/);
  const same = await db.scheduler('place', 'parse');
  t.match(same.stdout, /^service parse unchanged \(generation 3\)\n/);
});

t.test('place: an impossible spec is accepted (exit 0) and said to be unplaceable, with the reason', async (t) => {
  const db = await cliDatabase(t);
  await addNode(db.pool, 'n1', { site: 'north' }, { cpu: 2 });
  const [mars, huge] = await Promise.all([
    db.scheduler('place', 'rover', '--constraint', 'site=mars'),
    db.json<{ unplaceable: { count: number; reason: string }; plan: Array<{ action: string }> }>('place', 'big', '--instances', '2', '--cpu', '16'),
  ]);
  t.equal(mars.code, 0, mars.stderr);
  t.equal(lines(mars.stdout).at(-1), 'rover: accepted, but all 1 instance(s) are UNPLACEABLE: no node matches constraints site=mars (nodes: n1[site=north])');
  t.match(mars.stdout, /\nrover#1 +unplaceable +- +no node matches constraints site=mars/);
  t.equal(huge.unplaceable.count, 2);
  t.equal(huge.unplaceable.reason, 'no capacity: needs cpu 16, memoryMb 0 per instance; free: n1 cpu 2');
  t.same(huge.plan.map((r) => r.action), ['unplaceable', 'unplaceable']);
  const specs = await db.pool.query('SELECT name FROM service_specs ORDER BY name');
  t.same(specs.rows.map((r) => r.name), ['big', 'rover'], 'both specs are stored');
});

t.test('place: a bad value is exit 2 naming the option and value; a pin to an unknown node or an unknown release is exit 1', async (t) => {
  const db = await cliDatabase(t);
  await addNode(db.pool, 'n1');
  await addRelease(db.pool, 'feedface00000000000000000000000000000000', 'building');
  const runs = await Promise.all([
    db.scheduler('place', 'parse', '--instances', '-1'),
    db.scheduler('place', 'parse', '--cpu', 'abc'),
    db.scheduler('place', 'parse', '--constraint', 'novalue'),
    db.scheduler('place', 'parse', '--memory', '1.5'),
    db.scheduler('place', 'parse', '--spread', 'a b'),
    db.scheduler('place', 'bad name'),
    db.scheduler('place', 'parse', '--release', 'zzz'),
    db.scheduler('place', 'parse', '--pin', 'ghost'),
    db.scheduler('place', 'parse', '--release', 'deadbeef'),
    db.scheduler('place', 'parse', '--release', 'feedface'),
    db.scheduler('place', 'parse', '--replicas', '2'),
  ]);
  const usage = 'usage: hydra scheduler place <service> [--instances N]';
  t.same(runs.map((r) => r.code), [2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2]);
  const first = (r: { stderr: string }) => r.stderr.split('\n')[0];
  t.equal(first(runs[0]!), "hydra scheduler place: --instances: '-1' is invalid; expected a whole number of at least 0");
  t.ok(runs[0]!.stderr.includes(usage), 'a usage error prints the usage');
  t.equal(first(runs[1]!), "hydra scheduler place: --cpu: 'abc' is invalid; expected a number of at least 0, e.g. 0.5");
  t.equal(first(runs[2]!), "hydra scheduler place: --constraint: 'novalue' is invalid; expected KEY=VALUE");
  t.equal(first(runs[3]!), "hydra scheduler place: --memory: '1.5' is invalid; expected a whole number of at least 0");
  t.equal(first(runs[4]!), 'hydra scheduler place: --spread: spread: "a b" is invalid; expected a label key such as rack');
  t.match(first(runs[5]!), /^hydra scheduler place: <service>: name: "bad name" is invalid; expected 1-64 letters/);
  t.equal(first(runs[6]!), "hydra scheduler place: --release: 'zzz' is invalid; expected a commit id (7 to 40 hex digits)");
  t.equal(runs[7]!.stderr, "hydra scheduler place: unknown node 'ghost' (known nodes: n1); see 'hydra scheduler nodes'\n");
  t.equal(runs[8]!.stderr, "hydra scheduler place: release 'deadbeef' is unknown; push it first ('git push <node> main')\n");
  t.equal(runs[9]!.stderr, 'hydra scheduler place: release feedface0000 is building; only a ready release can be used\n');
  t.equal(first(runs[10]!), "hydra scheduler place: unknown option '--replicas'");
  const specs = await db.pool.query('SELECT count(*)::int AS n FROM service_specs');
  t.equal(specs.rows[0].n, 0, 'nothing was stored');
});

t.test('cordon, uncordon, drain: say what changes for the node and its instances; unknown node exit 1', async (t) => {
  const db = await cliDatabase(t);
  await addNode(db.pool, 'n1');
  await addNode(db.pool, 'n2');
  await putServiceSpec(db.pool, { name: 'parse', instances: 4 }, 'test');
  await putServiceSpec(db.pool, { name: 'sensor', pinnedNode: 'n2' }, 'test');
  await leaderTick(db.pool);
  // n1: parse#1, parse#3; n2: parse#2, parse#4, sensor#1.

  const [drain, cordon] = await Promise.all([db.scheduler('drain', 'n2'), db.json<Record<string, unknown>>('cordon', 'n1')]);
  t.equal(drain.code, 0, drain.stderr);
  t.equal(drain.stdout, "node n2 draining (was active): 2 instances move to other nodes on the leader's next tick; 1 pinned to it (sensor#1) stops and stays unplaceable until 'hydra scheduler uncordon n2'\n");
  t.same(cordon, { node: 'n1', previous: 'active', adminState: 'cordoned', changed: true, instances: ['parse#1', 'parse#3'], pinned: [] });
  const [again, uncordon, ghost] = await Promise.all([db.scheduler('cordon', 'n1'), db.scheduler('uncordon', 'n2'), db.scheduler('drain', 'ghost')]);
  t.equal(again.stdout, 'node n1 is already cordoned; nothing changed\n');
  t.equal(uncordon.stdout, "node n2 active (was draining): it takes new instances from the leader's next tick\n");
  t.equal(ghost.code, 1);
  t.equal(ghost.stderr, "hydra scheduler drain: unknown node 'ghost' (known nodes: n1, n2); see 'hydra scheduler nodes'\n");
  const cordoned = await db.scheduler('cordon', 'n2');
  t.equal(cordoned.stdout, 'node n2 cordoned (was active): it takes no new instances; its 3 instances keep running there\n');
  const audit = await db.pool.query("SELECT actor, kind, subject FROM audit_events WHERE kind LIKE 'node.%ed' OR kind = 'node.draining' ORDER BY id");
  t.match(audit.rows.find((r) => r.kind === 'node.draining'), { actor: /^cli@/, subject: 'n2' }, 'audited with the CLI as actor');
  const missing = await db.scheduler('cordon');
  t.equal(missing.code, 2);
  t.match(missing.stderr, /^hydra scheduler cordon: missing <node>\n/);
});

const EVERY_COMMAND = [
  ['nodes'],
  ['services'],
  ['placements'],
  ['place', 'parse'],
  ['cordon', 'n1'],
  ['uncordon', 'n1'],
  ['drain', 'n1'],
  ['deployments'],
  ['deploy', 'parse', 'abcdef0'],
  ['rollback', 'parse'],
  ['jobs'],
  ['define-job', 'nightly', '--cron', '0 3 * * *', '--command', '["true"]'],
  ['remove-job', 'nightly'],
  ['run-job', 'nightly'],
];

t.test('every command: an unreachable database is exit 1 in one line, the password never shown; DATABASE_URL unset is exit 1', async (t) => {
  const down = 'postgres://postgres:secret@127.0.0.1:1/hydra';
  const unsetFor = [['nodes'], ['place', 'parse'], ['run-job', 'nightly']];
  const [unreachable, unset] = await Promise.all([
    Promise.all(EVERY_COMMAND.map((args) => hydra({ DATABASE_URL: down }, 'scheduler', ...args))),
    Promise.all(unsetFor.map((args) => hydra({ DATABASE_URL: undefined }, 'scheduler', ...args, '--json'))),
  ]);
  EVERY_COMMAND.forEach((args, i) => {
    const r = unreachable[i]!;
    t.equal(r.code, 1, `${args[0]}: unreachable`);
    t.match(r.stderr, new RegExp(`^hydra scheduler ${args[0]}: cannot reach the database at postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:1/hydra: .*ECONNREFUSED.*\\n$`));
    t.notMatch(r.stderr, /secret/);
  });
  unsetFor.forEach((args, i) => {
    t.equal(unset[i]!.code, 1, `${args[0]}: unset`);
    t.equal(unset[i]!.stderr, `hydra scheduler ${args[0]}: DATABASE_URL: not set; expected a connection string such as postgres://user@host:5432/hydra\n`);
    t.equal(unset[i]!.stdout, '');
  });
});

t.test('read commands on an empty database say so; on a database never migrated they say to migrate', async (t) => {
  const db = await cliDatabase(t);
  const [nodes, services, placements, jobs, deployments] = await Promise.all([
    db.scheduler('nodes'),
    db.scheduler('services'),
    db.scheduler('placements'),
    db.scheduler('jobs'),
    db.scheduler('deployments'),
  ]);
  t.equal(nodes.stdout, "0 nodes: none has registered yet (a node registers when 'hydra node start' runs with DATABASE_URL)\n");
  t.equal(services.stdout, "0 services: define one with 'hydra scheduler place <service> …'\n");
  t.equal(placements.stdout, '0 placements\n');
  t.match(jobs.stdout, /^0 jobs: define one with/);
  t.equal(deployments.stdout, '0 deployments\n');
  await db.pool.query('DROP TABLE nodes CASCADE');
  const bare = await db.scheduler('nodes');
  t.equal(bare.code, 1);
  t.match(bare.stderr, /^hydra scheduler nodes: the database at postgres:\/\/\S+ has no scheduler schema \(relation "nodes" does not exist\); run 'hydra db migrate' first\n$/);
});
