/**
 * A release pushed to one node runs on another: node `a` holds the deploy repository (its
 * HYDRA_HOME is the deploy world's), node `b` another HYDRA_HOME; alpha is pinned to b, beta to
 * a. The push is built on a, its source kept in the database; b builds the same commit in its
 * own releases directory from that source, checks that its build has the receiver's hashes, and
 * runs alpha from there. A second push reuses b's node_modules and swaps only alpha. A build that
 * is not reproducible is refused on b with the reason, the push is refused, and the alpha that
 * ran before keeps running.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { putServiceSpec } from '../../scheduler/specs.js';
import { FETCHED_MARKER } from '../../deploy/fetchRelease.js';
import { waitFor } from '../helpers/wait.js';
import { placements, startFleet, type FleetNode, type PlacementView } from '../scheduler/fleet.js';
import { deployWorld } from './deployHarness.js';
import { appFiles } from './fixtureApp.js';

/** The service module a process runs (serviceChild passes it in its environment). */
function moduleOf(pid: number): string | undefined {
  const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  return env.find((e) => e.startsWith('HYDRA_SERVICE_MODULE='))?.slice('HYDRA_SERVICE_MODULE='.length);
}

async function pidOf(pool: Parameters<typeof placements>[0], service: string): Promise<number> {
  const r = await pool.query<{ actual_pid: number | null }>('SELECT actual_pid FROM placements WHERE service = $1', [service]);
  const pid = r.rows[0]?.actual_pid;
  if (!pid) throw new Error(`${service} reports no pid`);
  return pid;
}

function running(rows: PlacementView[], node: string, version: string): boolean {
  return rows.length === 1 && rows[0]!.actual_node === node && rows[0]!.actual_state === 'running' && rows[0]!.actual_version === version;
}

function tail(node: FleetNode): string {
  return `\n---- node ${node.id} ----\n${node.output().slice(-4_000)}`;
}

t.test('a release pushed to node a is built from its source on node b and runs there', async (t) => {
  t.setTimeout(300_000);
  const w = await deployWorld(t, ['--wait-timeout', '90000', '--health-window', '500']);
  const fleet = await startFleet(t, { db: { url: w.url, pool: w.pool } });
  const a = await fleet.start('a', { home: w.home });
  const b = await fleet.start('b');
  await putServiceSpec(w.pool, { name: 'alpha', pinnedNode: 'b' }, 'test');
  await putServiceSpec(w.pool, { name: 'beta', pinnedNode: 'a' }, 'test');

  const p1 = await w.push();
  t.equal(p1.code, 0, `first push accepted${p1.code ? `: ${p1.output}${tail(a)}${tail(b)}` : ''}`);
  const sha1 = (await w.main())!;
  t.match(p1.remote.join('\n'), /hydra: source: \d+ KiB \(tar\.gz\) kept in the database, so every node can build this release/);
  const source = await w.pool.query<{ built_on: string; bytes: number }>('SELECT s.built_on, length(s.archive) AS bytes FROM release_sources s JOIN releases r ON r.id = s.release_id WHERE r.commit = $1', [sha1]);
  // The hook runs with the pusher's environment here (no HYDRA_NODE_ID): the host name stands in.
  t.same(source.rows.map((r) => r.built_on), [process.env.HYDRA_NODE_ID ?? hostname()], 'the source is recorded with where it was built');
  t.ok(source.rows[0]!.bytes > 0, `the archive is stored (${source.rows[0]!.bytes} bytes)`);

  t.ok(running(await placements(w.pool, 'alpha'), 'b', sha1), 'alpha runs the pushed release on b');
  t.ok(running(await placements(w.pool, 'beta'), 'a', sha1), 'beta runs it on a');
  const bRelease = path.join(b.home, 'releases', sha1);
  t.ok(existsSync(path.join(bRelease, FETCHED_MARKER)), "b built the release in its own releases directory");
  t.notOk(existsSync(path.join(w.home, 'releases', sha1, FETCHED_MARKER)), 'a runs the release its push built (nothing fetched there)');
  const alpha1 = await pidOf(w.pool, 'alpha');
  t.equal(moduleOf(alpha1), path.join(bRelease, 'dist', 'services', 'alpha', 'index.js'), "b's alpha process runs b's build");
  t.equal(moduleOf(await pidOf(w.pool, 'beta')), path.join(w.home, 'releases', sha1, 'dist', 'services', 'beta', 'index.js'), "a's beta runs the receiver's build");
  t.match(b.output(), /release built on this node/, 'b says it built the release');
  t.match(b.output(), /hashes match/, 'and that its hashes match the receiver\'s');

  // Only alpha changes: b builds the second release, reusing its own node_modules.
  const beta1 = await pidOf(w.pool, 'beta');
  const sha2 = await w.commit('alpha: version 1.0.1', { 'src/services/alpha/index.js': appFiles()['src/services/alpha/index.js']!.replace("version: '1.0.0'", "version: '1.0.1'") });
  const p2 = await w.push();
  t.equal(p2.code, 0, `second push accepted${p2.code ? `: ${p2.output}${tail(b)}` : ''}`);
  t.ok(running(await placements(w.pool, 'alpha'), 'b', sha2), 'alpha runs the second release on b');
  const alpha2 = await pidOf(w.pool, 'alpha');
  t.not(alpha2, alpha1, 'alpha was swapped (new pid)');
  t.equal(moduleOf(alpha2), path.join(b.home, 'releases', sha2, 'dist', 'services', 'alpha', 'index.js'), 'from b\'s build of the second release');
  t.equal(await pidOf(w.pool, 'beta'), beta1, 'beta (unchanged) kept its pid');
  t.match(b.output(), new RegExp(`package-lock.json unchanged since release ${sha1.slice(0, 12)}: node_modules reused`), "b reused its first build's node_modules");

  // A build that writes a different file each time: b's build cannot match a's.
  const build = readFileSync(path.join(w.work, 'build.mjs'), 'utf8');
  const sha3 = await w.commit('build stamps alpha', {
    'build.mjs': `${build}\nimport { writeFileSync as stamp } from 'node:fs';\nstamp('dist/services/alpha/stamp.js', \`export const built = '\${Date.now()}-\${Math.random()}';\\n\`);\n`,
  });
  const p3 = await w.push();
  t.equal(p3.code, 1, 'the push of a build that is not reproducible is refused');
  const refusal = p3.remote.join('\n');
  t.match(refusal, /deployment \d+ of alpha (failed|was rolled back): .*not reproducible/, `the pusher reads why${p3.code === 1 ? '' : `: ${refusal}`}`);
  const alpha = await placements(w.pool, 'alpha');
  t.ok(running(alpha, 'b', sha2), 'alpha went back to the second release on b');
  t.equal(await pidOf(w.pool, 'alpha'), alpha2, 'and the instance that ran it never stopped');
  t.notOk(existsSync(path.join(b.home, 'releases', sha3)), 'no unchecked build of the third release is left on b');

  // Pushing a ready release again (to retry its rollout) is not rebuilt; a source missing from
  // the database (a release recorded before sources were kept) is stored then.
  await w.pool.query('DELETE FROM release_sources WHERE release_id = (SELECT id FROM releases WHERE commit = $1)', [sha3]);
  const p4 = await w.push();
  t.match(p4.remote.join('\n'), new RegExp(`release ${sha3.slice(0, 12)} was built before and is ready .*; not rebuilt\nhydra: source: \\d+ KiB`), 'the retried push keeps the missing source');
  const kept = await w.pool.query('SELECT 1 FROM release_sources s JOIN releases r ON r.id = s.release_id WHERE r.commit = $1', [sha3]);
  t.equal(kept.rowCount, 1, 'the source is in the database again');
  await waitFor('b to forget the staging directory', () => !existsSync(path.join(b.home, 'releases', `.fetch-${sha3}-${b.proc.pid}`)), 10_000, 100);
});
