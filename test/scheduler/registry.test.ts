/** Node registry: registration, id collisions refused, heartbeats, down marking on the database clock. */
import t from 'tap';
import { NodeIdCollisionError, NodeNotRegisteredError } from '../../scheduler/errors.js';
import { heartbeat, listNodes, markDownNodes, registerNode } from '../../scheduler/registry.js';
import { migrate } from '../../scheduler/store/migrate.js';
import { testDatabase } from '../helpers/postgres.js';
import { sleep } from '../helpers/wait.js';

const node = (id: string, hostKey: string) => ({ id, hostKey, labels: { site: 'north' }, capacity: { cpu: 4, memoryMb: 4096 }, address: `${hostKey}:443`, version: '0.1.0' });

t.test('a node registers with its labels and capacity, and may re-register after a restart', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  const rec = await registerNode(pool, node('n1', 'host-a'), 5_000);
  t.match(rec, { id: 'n1', state: 'up', adminState: 'active', labels: { site: 'north' }, capacity: { cpu: 4, memoryMb: 4096 } });
  await pool.query("UPDATE nodes SET admin_state = 'cordoned' WHERE id = 'n1'");
  const again = await registerNode(pool, { ...node('n1', 'host-a'), version: '0.2.0' }, 5_000);
  t.equal(again.version, '0.2.0');
  t.equal(again.adminState, 'cordoned', 'a cordon survives a restart');
});

t.test('an id collision with a different live node is refused with a clear error', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  await registerNode(pool, node('n1', 'host-a'), 5_000);
  await t.rejects(registerNode(pool, node('n1', 'host-b'), 5_000), {
    name: 'NodeIdCollisionError',
    message: /^node id 'n1' is already registered by a live node at host-a:443 \(last heartbeat \d+ ms ago\); choose another HYDRA_NODE_ID$/,
  });
  const [n1] = await listNodes(pool);
  t.equal(n1?.hostKey, 'host-a', 'the live node keeps its id');
  const audit = await pool.query("SELECT kind FROM audit_events WHERE subject = 'n1' AND kind = 'node.collision'");
  t.equal(audit.rowCount, 1, 'the refusal is audited');
  t.ok(new NodeIdCollisionError('x', 'y', 1) instanceof Error);
});

t.test('a different host may take over the id of a node whose heartbeat stopped', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  await registerNode(pool, node('n1', 'host-a'), 5_000);
  await sleep(250); // n1's heartbeat must age past the 200 ms timeout below
  const rec = await registerNode(pool, node('n1', 'host-b'), 200);
  t.equal(rec.hostKey, 'host-b');
  await t.rejects(heartbeat(pool, 'n1', 'host-a'), NodeNotRegisteredError, 'the old host must not heartbeat for the id any more');
  const audit = await pool.query("SELECT kind FROM audit_events WHERE subject = 'n1' AND kind = 'node.takeover'");
  t.equal(audit.rowCount, 1);
});

t.test('nodes whose heartbeat is older than the timeout are marked down; a heartbeat brings one back', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  await registerNode(pool, node('n1', 'host-a'), 1_000);
  await registerNode(pool, node('n2', 'host-b'), 1_000);
  t.same(await markDownNodes(pool, 300), [], 'fresh nodes stay up');
  await sleep(400); // both heartbeats age past the 300 ms timeout; n2 then beats again
  await heartbeat(pool, 'n2', 'host-b');
  t.same(await markDownNodes(pool, 300), ['n1'], 'only the silent node is marked down');
  t.same(await markDownNodes(pool, 300), [], 'marking is idempotent');
  const states = Object.fromEntries((await listNodes(pool)).map((n) => [n.id, n.state]));
  t.same(states, { n1: 'down', n2: 'up' });
  const audit = await pool.query("SELECT subject FROM audit_events WHERE kind = 'node.down'");
  t.same(audit.rows, [{ subject: 'n1' }]);
  t.same(await heartbeat(pool, 'n1', 'host-a'), { revived: true });
  t.equal((await listNodes(pool)).find((n) => n.id === 'n1')?.state, 'up');
});

t.test('the heartbeat age is judged on the database clock, not the caller\'s', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  await registerNode(pool, node('n1', 'host-a'), 1_000);
  // A heartbeat stamped in the future by a skewed writer would never age on a client clock;
  // here the row's age is computed by now() - heartbeat_at, both from the database.
  await pool.query("UPDATE nodes SET heartbeat_at = now() - interval '10 seconds' WHERE id = 'n1'");
  t.same(await markDownNodes(pool, 5_000), ['n1']);
});

t.test('an invalid node id is refused naming the field', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  await t.rejects(registerNode(pool, node('bad id!', 'h'), 1_000), { name: 'RangeError', message: /^id: "bad id!" is invalid/ });
});
