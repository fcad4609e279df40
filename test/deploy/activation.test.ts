/**
 * Activation: only services with a spec whose hash changed get a rolling update; the push
 * waits for them and reports each outcome; a failed rollout refuses the push; an unfinished
 * one makes the next push refuse before recording anything. The leader and the node are played
 * here by a loop (stepDeployments as the leader's tick does, reportActual as a node's
 * reconciler does): no node process needs to run to check the receiver's side.
 */
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import t, { type Test } from 'tap';
import { desiredFor, reportActual } from '../../scheduler/placements.js';
import { listDeployments, stepDeployments } from '../../scheduler/rollout.js';
import { putServiceSpec } from '../../scheduler/specs.js';
import { inTransaction } from '../../core/pgTransaction.js';
import { addNode, leaderTick } from '../scheduler/schedulerCli.js';
import { deployWorld } from './deployHarness.js';
import { beta } from './fixtureApp.js';

/**
 * Leader and node n1 in one loop: steps the deployments and reports every placement of n1 as
 * running its desired version, healthy, except what `crashes` says fails (with its reason).
 */
function playFleet(t: Test, pool: pg.Pool, crashes: (service: string, version: string | null) => string | null = () => null): void {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await inTransaction(pool, (c) => stepDeployments(c, 'test-leader'));
      const desired = await desiredFor(pool, 'n1');
      await reportActual(
        pool,
        'n1',
        desired.map((d) => {
          const crash = crashes(d.service, d.version);
          return { service: d.service, instance: d.instance, state: crash ? 'failed' : 'running', version: d.version, port: 7200 + d.instance, pid: 1000 + d.instance, healthy: crash ? null : true, detail: crash };
        }),
      );
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  t.teardown(async () => {
    stopped = true;
    await loop;
  });
}

async function deploymentRows(pool: pg.Pool): Promise<Array<[string, string, string]>> {
  return (await listDeployments(pool)).reverse().map((d) => [d.service, d.commit.slice(0, 12), d.state]);
}

async function fleetWorld(t: Test, crashes?: (service: string, version: string | null) => string | null) {
  const w = await deployWorld(t, ['--wait-timeout', '20000', '--health-window', '0']);
  await addNode(w.pool, 'n1');
  await putServiceSpec(w.pool, { name: 'alpha' }, 'test');
  await putServiceSpec(w.pool, { name: 'beta' }, 'test');
  await leaderTick(w.pool);
  playFleet(t, w.pool, crashes);
  return w;
}

t.test('only services whose hash changed are rolled out; the push waits and reports each outcome', async (t) => {
  const w = await fleetWorld(t);
  const p1 = await w.push();
  t.equal(p1.code, 0, p1.output);
  const sha1 = (await w.main())!;
  const s1 = sha1.slice(0, 12);
  const text1 = p1.remote.join('\n');
  t.match(text1, `hydra: activate: alpha changed → deployment 1 from the node's own code to ${s1} (1 node(s) at a time)`);
  t.match(text1, /hydra: rollout: deployment 1 of alpha: succeeded \(1 node\(s\) done\)/);
  t.equal(p1.remote.at(-1), `hydra: release ${s1} ready: alpha changed → deployment 1 succeeded; beta changed → deployment 2 succeeded; gamma not scheduled`);

  const sha2 = await w.commit('beta only', { 'src/services/beta/index.js': beta('item.raw@1').replace("from: label('beta')", "from: label('beta-2')") });
  const p2 = await w.push();
  t.equal(p2.code, 0, p2.output);
  t.match(p2.remote.join('\n'), 'hydra: activate: alpha unchanged; left running as it is');
  t.equal(p2.remote.at(-1), `hydra: release ${sha2.slice(0, 12)} ready: beta changed → deployment 3 succeeded; alpha unchanged; gamma not scheduled`);

  const sha3 = await w.commit('gamma only', { 'src/services/gamma/index.js': readFileSync(`${w.work}/src/services/gamma/index.js`, 'utf8').replace('seen', 'counted') });
  const p3 = await w.push();
  t.equal(p3.code, 0, p3.output);
  t.equal(p3.remote.at(-1), `hydra: release ${sha3.slice(0, 12)} ready: alpha, beta unchanged; gamma not scheduled`);
  t.notMatch(p3.output, /waiting for/, 'nothing to wait for');

  t.same(await deploymentRows(w.pool), [['alpha', s1, 'succeeded'], ['beta', s1, 'succeeded'], ['beta', sha2.slice(0, 12), 'succeeded']], 'one deployment per changed service, none for the unchanged');
  const specs = await w.pool.query<{ name: string; commit: string }>('SELECT s.name, r.commit FROM service_specs s JOIN releases r ON r.id = s.release_id ORDER BY s.name');
  t.same(specs.rows.map((r) => [r.name, r.commit]), [['alpha', sha1], ['beta', sha2]]);
  const list = await w.hydra('deploy', 'releases', '--json');
  t.match(JSON.parse(list.stdout), { releases: [{ commit: sha3, services: [] }, { commit: sha2, services: ['beta'], instances: ['beta#1@n1'] }, { commit: sha1, services: ['alpha'], instances: ['alpha#1@n1'] }] });
});

t.test('a rollout that fails refuses the push with its reason; main does not move', async (t) => {
  let bad = '';
  const w = await fleetWorld(t, (service, version) => (service === 'alpha' && version === bad ? 'crashed at start: boom' : null));
  t.equal((await w.push()).code, 0);
  const sha1 = (await w.main())!;
  bad = await w.commit('new label for alpha and beta', { 'src/lib/label.js': 'export const label = (n) => `v2 ${n}`;\n' });
  const p = await w.push();
  t.not(p.code, 0, 'the push is refused');
  const text = p.remote.join('\n');
  t.match(text, `hydra: refused: deployment 3 of alpha failed: alpha#1 on n1 failed with release ${bad.slice(0, 12)}: crashed at start: boom`);
  t.match(text, `hydra: beta already run(s) ${bad.slice(0, 12)}; 'hydra scheduler rollback <service>' takes one back`);
  t.match(text, `hydra: release ${bad.slice(0, 12)} ready: alpha changed → deployment 3 failed; beta changed → deployment 4 succeeded; gamma not scheduled`);
  t.match(text, 'hydra: the push is refused: main was not moved. The release stays ready: push a fix, or push this commit again to retry the rollout');
  t.equal(await w.main(), sha1);
  t.match((await w.releases()).find((r) => r.commit === bad), { status: 'ready' });
});

t.test('a rollout still going on: the push is accepted after the wait; the next push that changes the service is refused before recording anything', async (t) => {
  const w = await deployWorld(t, ['--wait-timeout', '1000']);
  await putServiceSpec(w.pool, { name: 'alpha' }, 'test');
  const p1 = await w.push();
  t.equal(p1.code, 0, p1.output);
  const s1 = (await w.main())!.slice(0, 12);
  t.match(p1.remote.join('\n'), "hydra: deployment 1 still going on; the push is accepted, follow it with 'hydra scheduler deployments'");
  t.equal(p1.remote.at(-1), `hydra: release ${s1} ready: alpha changed → deployment 1 still pending after 1 s; beta, gamma not scheduled`);

  const sha2 = await w.commit('new label', { 'src/lib/label.js': 'export const label = (n) => `v2 ${n}`;\n' });
  const p2 = await w.push();
  t.not(p2.code, 0);
  t.match(p2.remote.join('\n'), "hydra: refused: deployment 1 of alpha is still in progress; wait for it ('hydra scheduler deployments') or stop it ('hydra scheduler rollback <service>'), then push again");
  t.match(p2.remote.join('\n'), `hydra: release ${sha2.slice(0, 12)} is ready but nothing was activated; main was not moved`);
  t.equal((await listDeployments(w.pool)).length, 1, 'no deployment recorded');
  t.equal((await w.main())!.slice(0, 12), s1);
});
