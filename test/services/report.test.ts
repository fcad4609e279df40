/**
 * The report service as a real process under a supervisor, over real Redis and PostgreSQL:
 * blast sequences published on packets.parsed become reports with exact counts (complete with
 * misfires, abort, fault); redeliveries never duplicate; a SIGKILL between arm and complete
 * loses nothing; JSON, HTML and PDF endpoints with their 400s and 404s; frames that can never be
 * handled are dead-lettered with the reason.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { escapeHtml, reportHtml } from '../../services/report/html.js';
import type { Report, ReportListEntry } from '../../services/report/reportStore.js';
import { isTransient, retryTransient } from '../../services/report/retryTransient.js';
import { blastFrames, startReport, statusFrame, T0, type BlastPlan, type ReportHarness } from './reportHarness.js';

const A: BlastPlan = { site: 1, device: 1001, blastId: 41, seq: 10, detonators: [1, 2, 3, 4, 5, 6, 7, 8], outcome: 'complete', misfires: [3, 7] };
const B: BlastPlan = { site: 1, device: 1002, blastId: 42, seq: 20, detonators: [11, 12, 13, 14, 15], outcome: 'abort' };
const C: BlastPlan = { site: 2, device: 2001, blastId: 43, seq: 30, detonators: [21, 22, 23, 24, 25, 26, 27, 28, 29, 30], outcome: 'fault', faults: { 22: 7, 25: 3 } };

interface List {
  count: number;
  reports: ReportListEntry[];
}

async function reportCount(h: ReportHarness): Promise<number> {
  return Number((await h.db.pool.query('SELECT count(*) AS n FROM reports')).rows[0].n);
}

async function progressRows(h: ReportHarness): Promise<number> {
  return Number((await h.db.pool.query('SELECT count(*) AS n FROM blast_progress')).rows[0].n);
}

t.test('three interleaved blasts (complete with misfires, abort, fault) become three reports with exact counts', async (t) => {
  const h = await startReport(t);
  const [aArm, aFire, aEnd] = blastFrames(A);
  const [bArm, bFire, bEnd] = blastFrames(B);
  const [cArm, cFire, cEnd] = blastFrames(C);
  // Blast frames between status traffic and each other, as several units would send them.
  await h.publish(aArm, statusFrame(1, 1001, 5, [1, 2]), bArm, cArm, aFire, bFire);
  await h.publish(aEnd, statusFrame(1, 1002, 7, [11]), cFire, bEnd, cEnd);
  const c = await h.counters((c) => c.reports_created === 3);
  t.equal(c.status_frames_skipped, 2, 'status frames are skipped');
  t.equal(c.blast_frames, 6, 'arm and fire frames recorded as progress');
  t.equal(c.bad_frames, 0);
  t.equal(await progressRows(h), 0, 'progress is removed with each report');

  const { status, body } = await h.getJson<List>('/reports');
  t.equal(status, 200);
  t.equal(body.count, 3);
  t.same(body.reports.map((r) => r.blastId), [43, 42, 41], 'newest first');
  const by = (id: number) => body.reports.find((r) => r.blastId === id)!;
  t.match(by(41), { site: 1, device: 1001, outcome: 'complete', summary: { expected: 8, fired: 6, misfired: 2, faults: 0, missing: 0, warnings: [] } });
  t.match(by(42), { site: 1, device: 1002, outcome: 'abort', summary: { expected: 5, fired: 0, misfired: 0, faults: 0 } });
  t.match(by(43), { site: 2, device: 2001, outcome: 'fault', summary: { expected: 10, fired: 0, misfired: 0, faults: 2 } });
  t.notOk('detonators' in by(41).summary, 'the list leaves the per-detonator table out');

  t.test('GET /reports/:id has the timing, the snapshots and the per-detonator table', async (t) => {
    const { status, body: r } = await h.getJson<Report>(`/reports/${by(41).id}`);
    t.equal(status, 200);
    t.same(r.summary.timing, { armedAt: T0 + 10, firedAt: T0 + 1_210, completedAt: T0 + 1_510, armToFireMs: 1_200, fireToCompleteMs: 300 });
    t.equal(r.summary.detonators.length, 8);
    t.same(r.summary.detonators[0], { id: 1, delayMs: 25, voltage: 24.01, resistance: 2.001, status: 'fired', faultCode: 0 });
    t.same(r.summary.detonators.filter((d) => d.status === 'misfire').map((d) => d.id), [3, 7]);
    t.equal(r.start!.items.length, 8, 'start snapshot: the arm frame');
    t.ok(r.start!.items.every((i) => i.status === 'armed'));
    t.match(r.end, { frameType: 'complete', seq: 12 }, 'end snapshot: the complete frame');
    t.same((await h.getJson<Report>(`/reports/${by(41).id}.json`)).body, r, ':id.json is the same');
    const fault = (await h.getJson<Report>(`/reports/${by(43).id}`)).body;
    t.same(fault.summary.detonators.filter((d) => d.status === 'fault').map((d) => [d.id, d.faultCode]), [[22, 7], [25, 3]]);
  });

  t.test('GET /reports filters by site, device and outcome; bad values are 400 naming the parameter', async (t) => {
    const ids = async (q: string) => (await h.getJson<List>(`/reports?${q}`)).body.reports.map((r) => r.blastId);
    t.same(await ids('site=1'), [42, 41]);
    t.same(await ids('site=1&device=1001'), [41]);
    t.same(await ids('device=2001'), [43]);
    t.same(await ids('outcome=abort'), [42]);
    t.same(await ids('limit=1'), [43]);
    t.same(await ids('site=9'), []);
    for (const [q, reason] of [
      ['site=x', /^site: 'x' is not an id/],
      ['device=-1', /^device: '-1'/],
      ['site=4294967296', /^site: '4294967296'/],
      ['outcome=boom', /^outcome: 'boom' is not one of complete, abort, fault/],
      ['limit=0', /^limit: '0'/],
      ['sit=1', /^unknown query parameter 'sit'/],
      ['site=1&site=2', /given more than once/],
    ] as const) {
      const res = await h.getJson<{ error: string }>(`/reports?${q}`);
      t.equal(res.status, 400, `?${q} is 400`);
      t.match(res.body.error, reason);
    }
  });

  t.test('unknown reports and formats are 404, malformed ids 400', async (t) => {
    for (const [p, code, reason] of [
      ['/reports/999', 404, /no report 999/],
      ['/reports/999.pdf', 404, /no report 999/],
      ['/reports/1.txt', 404, /no format '\.txt'/],
      ['/reports/abc', 400, /report id 'abc' is not a positive integer/],
      ['/reports/0.html', 400, /report id '0'/],
      ['/reports/1/2', 404, /no route/],
    ] as const) {
      const res = await h.getJson<{ error: string }>(p);
      t.equal(res.status, code, `${p} is ${code}`);
      t.match(res.body.error, reason);
    }
  });

  t.test('GET /reports/:id.html is a page with the summary and the per-detonator table', async (t) => {
    const res = await h.get(`/reports/${by(41).id}.html`);
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^text\/html; charset=utf-8/);
    t.equal(res.headers.get('x-content-type-options'), 'nosniff');
    t.match(res.headers.get('content-security-policy'), /^default-src 'none'; style-src 'unsafe-inline';.*frame-ancestors 'none'/, 'no script runs in a report page');
    const html = await res.text();
    t.match(html, /^<!doctype html>/);
    t.match(html, '<title>Blast report: site 1, device 1001, blast 41</title>');
    t.match(html, '<dt>Detonators expected</dt><dd>8</dd>');
    t.match(html, '<dt>Misfired</dt><dd>2</dd>');
    t.equal(html.match(/<tr class="(fired|misfire)">/g)?.length, 8, 'one table row per detonator');
    t.match(html, '<tr class="misfire"><td>3</td><td>75</td><td>24.03</td><td>2.003</td><td>misfire</td><td>0</td></tr>');
  });

  t.test('GET /reports/:id.pdf is a PDF whose text shows the counts and every detonator', async (t) => {
    for (const blast of [A, C]) {
      const r = by(blast.blastId);
      const res = await h.get(`/reports/${r.id}.pdf`);
      t.equal(res.status, 200);
      t.equal(res.headers.get('content-type'), 'application/pdf');
      const pdf = Buffer.from(await res.arrayBuffer());
      t.equal(pdf.subarray(0, 5).toString(), '%PDF-');
      const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'hydra-report-')), 'r.pdf');
      writeFileSync(file, pdf);
      const { stdout: text } = await promisify(execFile)('pdftotext', ['-layout', file, '-']);
      for (const [label, value] of [['expected', r.summary.expected], ['fired', r.summary.fired], ['misfired', r.summary.misfired], ['faults', r.summary.faults]] as const) {
        t.match(text, new RegExp(`${label}: ${value}\\b`, 'i'), `blast ${blast.blastId}: ${label} ${value}`);
      }
      t.match(text, `Outcome: ${{ complete: 'Complete', abort: 'Aborted', fault: 'Fault' }[blast.outcome]}`);
      for (const d of blast.detonators) t.match(text, new RegExp(`^\\s*${d}\\s+${d * 25}\\s`, 'm'), `detonator ${d} has its row`);
    }
  });
});

t.test('redelivered frames never duplicate: an arm delivered twice counts its detonators once, a second complete makes no second report', async (t) => {
  const h = await startReport(t);
  const [arm, fire, end] = blastFrames(A);
  await h.publish(arm, arm, fire, end);
  await h.counters((c) => c.reports_created === 1);
  await h.publish(end, arm, fire);
  const c = await h.counters((c) => c.duplicate_end_frames === 1 && c.late_frames === 2);
  t.equal(c.duplicate_frames, 1, 'the second arm is recognised by (site, device, seq)');
  t.equal(c.reports_created, 1);
  t.equal(await reportCount(h), 1, 'one report');
  t.equal(await progressRows(h), 0, 'frames of a reported blast do not start a new one');
  const { body } = await h.getJson<List>('/reports');
  t.match(body.reports, [{ blastId: 41, summary: { expected: 8, fired: 6, misfired: 2 } }]);
});

t.test('SIGKILL between arm and complete: after the restart the report is still exact', async (t) => {
  const h = await startReport(t);
  const [arm, fire, end] = blastFrames(A);
  await h.publish(arm, fire);
  await h.counters((c) => c.blast_frames === 2);
  await h.settled();
  t.equal(await progressRows(h), 2, 'arm and fire are persisted as blast progress');
  await h.kill();
  t.equal(h.child().restarts, 1);
  await h.publish(end);
  await h.counters((c) => c.reports_created === 1);
  const { body } = await h.getJson<List>('/reports');
  t.equal(body.count, 1);
  const r = (await h.getJson<Report>(`/reports/${body.reports[0]!.id}`)).body;
  t.match(r.summary, { expected: 8, fired: 6, misfired: 2, faults: 0, missing: 0, warnings: [] }, 'counts from the arm frame handled before the kill');
  t.same(r.summary.timing, { armedAt: T0 + 10, firedAt: T0 + 1_210, completedAt: T0 + 1_510, armToFireMs: 1_200, fireToCompleteMs: 300 });
  t.equal(r.start!.items.length, 8);
  t.equal(await progressRows(h), 0);
});

t.test('frames that can never be handled are dead-lettered with the reason, counted, and the service carries on', async (t) => {
  const h = await startReport(t);
  const [arm, fire, end] = blastFrames(B);
  await h.publish({ ...arm, items: [{ ...arm.items[0]!, status: 'boom' as never }] }, { ...fire, blastId: 0 });
  await h.parsed.publish({ type: 'packet.raw', v: 1, body: { frame: '' } });
  await h.publish({ ...arm, frameType: 'explode' as never }, arm, fire, end);
  const c = await h.counters((c) => c.reports_created === 1 && c.bad_frames === 4);
  t.equal(c.blast_frames, 2);
  const dead = (await h.parsed.deadLetters(10)).map((d) => d.error);
  t.match(dead, [
    /body\.items\[0\]\.status: "boom" is not one of unknown, connected/,
    /body\.blastId: 0 is reserved for status frames; a fire frame names its blast/,
    /unexpected message type packet\.raw@1; report consumes packet\.parsed@1/,
    /body\.frameType: "explode" is not one of status, arm/,
  ]);
  t.match((await h.getJson<List>('/reports')).body.reports, [{ blastId: 42, outcome: 'abort', summary: { expected: 5 } }]);
});

t.test('the HTML page escapes everything it shows', async (t) => {
  const r: Report = {
    id: 1, site: 1, device: 2, blastId: 3, outcome: 'complete', createdAt: '2024-01-01T00:00:00.000Z',
    summary: { expected: 1, fired: 1, misfired: 0, faults: 0, missing: 0, warnings: ['<script>alert("x")</script> & \'y\''], timing: { armedAt: null, firedAt: null, completedAt: 0, armToFireMs: null, fireToCompleteMs: null }, detonators: [{ id: 1, delayMs: 0, voltage: 1, resistance: 1, status: '<b>' as never, faultCode: 0 }] },
    start: null, end: { seq: 1, deviceTs: 0, frameType: 'complete', items: [] },
  };
  const html = reportHtml(r);
  t.notMatch(html, '<script>');
  t.notMatch(html, '<b>');
  t.match(html, '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;');
  t.match(html, '<tr class="&lt;b&gt;"><td>1</td>');
  t.equal(escapeHtml(`<>&"'`), '&lt;&gt;&amp;&quot;&#39;');
});

t.test('while PostgreSQL is unreachable a frame is retried with backoff instead of failing toward the dead-letter stream; other errors are not retried', async (t) => {
  const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  t.ok(isTransient(down));
  t.ok(isTransient(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })));
  t.ok(isTransient(new Error('Connection terminated unexpectedly')));
  t.notOk(isTransient(Object.assign(new Error('duplicate key'), { code: '23505' })));
  let calls = 0;
  const retries: number[] = [];
  const value = await retryTransient(async () => (++calls < 4 ? Promise.reject(down) : 'written'), { onRetry: (_e, attempt) => retries.push(attempt), minMs: 1, maxMs: 4 });
  t.equal(value, 'written');
  t.same(retries, [1, 2, 3]);
  await t.rejects(retryTransient(() => Promise.reject(new Error('syntax error')), { onRetry: () => t.fail('not retried'), minMs: 1 }), /syntax error/);
});
