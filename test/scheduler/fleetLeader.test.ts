/**
 * Leadership across three real node daemons: SIGKILL the leader and another leads within the
 * lease time, the old leader's fencing token is refused; a cron job runs exactly once per tick
 * across the three nodes, also across that failover. And the same election and placement with
 * every node talking to PostgreSQL through a real PgBouncer in transaction pooling.
 */
import { readFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { defineJob } from '../../scheduler/cron/jobs.js';
import { listRuns } from '../../scheduler/cron/runRecords.js';
import { FencingError } from '../../scheduler/errors.js';
import { withFence } from '../../scheduler/lease.js';
import { putServiceSpec } from '../../scheduler/specs.js';
import { waitFor } from '../helpers/wait.js';
import { addRelease, allRunning, placements, startFleet, TIMING } from './fleet.js';
import { startPgbouncer } from './pgbouncerProcess.js';

t.test('leader SIGKILL: another leads within the lease time, the old token is refused; cron runs once per tick throughout', async (t) => {
  const fleet = await startFleet(t);
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'hydra-cron-')), 'ticks.txt');
  // Every second; the command appends the tick's run to a file: one line per execution.
  await defineJob(fleet.pool, { name: 'stamp', schedule: '* * * * * *', target: { kind: 'command', argv: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(file)}, process.env.HYDRA_NODE_ID + '\\n')`] } }, 'test');
  await fleet.start('n1');
  await waitFor('n1 to lead', async () => (await fleet.leader())?.holder === 'n1', 20_000, 50);
  await Promise.all([fleet.start('n2'), fleet.start('n3')]);
  await waitFor('a few cron runs under n1', async () => (await listRuns(fleet.pool, 'stamp', 1_000)).length >= 3, 20_000, 100);

  const old = (await fleet.leader())!;
  t.equal(old.holder, 'n1');
  const killedAt = performance.now();
  await fleet.kill('n1');
  const next = await waitFor('another node to lead', async () => {
    const l = await fleet.leader();
    return l && l.holder !== 'n1' ? l : null;
  }, 20_000, 20);
  const takeoverMs = performance.now() - killedAt;
  t.comment(`${next.holder} leads (epoch ${next.epoch}) ${Math.round(takeoverMs)} ms after SIGKILL of the leader (lease ${TIMING.leaseMs} ms)`);
  t.ok(['n2', 'n3'].includes(next.holder));
  t.ok(next.epoch > old.epoch, 'a new epoch');
  // The lease time plus the standby's retry period (lease/4) and a margin for a loaded machine.
  t.ok(takeoverMs < TIMING.leaseMs + TIMING.leaseMs / 4 + 1_000, 'takeover within the lease time');
  await t.rejects(
    withFence(fleet.pool, { name: 'scheduler', holder: 'n1', epoch: old.epoch }, async (c) => c.query("INSERT INTO audit_events (actor, kind) VALUES ('n1', 'stale')")),
    FencingError,
    "the old leader's fencing token is refused",
  );
  t.equal((await fleet.pool.query("SELECT 1 FROM audit_events WHERE kind = 'stale'")).rowCount, 0, 'and nothing it wrote landed');

  await waitFor(`a few cron runs under ${next.holder}`, async () => (await listRuns(fleet.pool, 'stamp', 1_000)).filter((r) => r.nodeId === next.holder).length >= 3, 20_000, 100);
  const runs = await listRuns(fleet.pool, 'stamp', 1_000);
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const ticks = runs.map((r) => r.scheduledFor.getTime());
  t.equal(new Set(ticks).size, ticks.length, 'no tick recorded twice');
  // A run n1 claimed just before it died may never have executed: it is marked failed by the
  // new leader, never run a second time.
  const orphaned = runs.filter((r) => r.state === 'failed');
  t.ok(orphaned.every((r) => r.nodeId === 'n1' && /lost leadership before it finished/.test(r.error ?? '')), 'only runs orphaned by the dead leader failed, and say so');
  t.ok(orphaned.length <= 1, 'at most the one run in flight at the kill');
  const inFlight = runs.filter((r) => r.state === 'running');
  t.ok(inFlight.length <= 1, 'at most the current tick still running');
  // A tick that came while the previous run was still going is recorded as skipped, not run.
  const skipped = runs.filter((r) => r.state === 'skipped');
  t.ok(lines.length <= runs.length - skipped.length && lines.length >= runs.length - skipped.length - orphaned.length - inFlight.length, `one execution per recorded run (${lines.length} executions, ${runs.length} runs, ${skipped.length} skipped)`);
  t.ok(runs.some((r) => r.nodeId === 'n1') && runs.some((r) => r.nodeId === next.holder), 'runs before the failover on n1, after it on the new leader');
  t.ok(runs.every((r) => (r.nodeId === 'n1' ? r.leaderEpoch === old.epoch : r.leaderEpoch >= next.epoch)), "each run carries its leader's epoch");
  const wallSeconds = (Math.max(...ticks) - Math.min(...ticks)) / 1000 + 1;
  t.comment(`${runs.length} runs over ${wallSeconds} s of ticks, ${lines.length} executions, leaders ${[...new Set(runs.map((r) => r.nodeId))].join(', ')}`);
  // At most one run per second of ticks; the failover gap may miss a few.
  t.ok(runs.length <= wallSeconds, 'never more than one run per tick');
  t.ok(runs.length >= wallSeconds - Math.ceil((TIMING.leaseMs * 2) / 1000) - 1, 'ticks are missed only during the failover');
});

t.test('through a real PgBouncer in transaction pooling: election, failover and placement', async (t) => {
  const fleet = await startFleet(t, { databaseUrl: (direct) => startPgbouncer(t, direct, 2) });
  t.match(fleet.databaseUrl, /127\.0\.0\.1:\d+/, 'the nodes use the PgBouncer URL');
  const release = await addRelease(fleet.pool, 'd'.repeat(40));
  await fleet.start('n1');
  await waitFor('n1 to lead', async () => (await fleet.leader())?.holder === 'n1', 20_000, 50);
  await Promise.all([fleet.start('n2'), fleet.start('n3')]);
  await putServiceSpec(fleet.pool, { name: 'ping', instances: 3, releaseId: release }, 'test');
  await waitFor('ping on every node', async () => allRunning(await placements(fleet.pool, 'ping'), 3), 60_000, 100);
  t.same((await placements(fleet.pool, 'ping')).map((p) => p.node_id).sort(), ['n1', 'n2', 'n3']);
  const old = (await fleet.leader())!;
  await fleet.kill('n1');
  const next = await waitFor('another node to lead', async () => {
    const l = await fleet.leader();
    return l && l.holder !== 'n1' ? l : null;
  }, 20_000, 20);
  t.ok(next.epoch > old.epoch, `${next.holder} leads with a new epoch`);
  await waitFor('ping#? of n1 running elsewhere', async () => {
    const rows = await placements(fleet.pool, 'ping');
    return allRunning(rows, 3) && rows.every((p) => p.node_id !== 'n1');
  }, 30_000, 100);
  t.pass("n1's instance was placed on a live node by the new leader, through PgBouncer");
});
