/**
 * The dependency-free PDF writer (services/report/pdf.ts) and the report layout on it
 * (reportPdf.ts): the file's structure is checked byte by byte (xref offsets, stream lengths),
 * and poppler's pdfinfo/pdftotext (poppler-utils) must read it without complaint and get the
 * text back, escapes and non-ASCII included, across several pages.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { fitText, pdfString, textWidth, wrapText, writePdf } from '../../services/report/pdf.js';
import { reportPdf } from '../../services/report/reportPdf.js';
import type { Report } from '../../services/report/reportStore.js';
import { summarize } from '../../services/report/summarize.js';

const run = promisify(execFile);
const DATE = new Date('2024-05-06T07:08:09Z');

async function poppler(pdf: Buffer): Promise<{ info: string; infoErrors: string; text: string }> {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'hydra-pdf-')), 'doc.pdf');
  writeFileSync(file, pdf);
  const info = await run('pdfinfo', [file]);
  const text = await run('pdftotext', ['-layout', file, '-']);
  return { info: info.stdout, infoErrors: info.stderr + text.stderr, text: text.stdout };
}

function report(detonators: number): Report {
  const items = Array.from({ length: detonators }, (_, i) => ({ item: 5000 + i, status: 'armed' as const, faultCode: 0, voltage: 24.2, resistance: 2.75, delayMs: i * 20 }));
  const end = items.map((r, i) => ({ ...r, status: (i % 50 === 7 ? 'misfire' : 'fired') as 'misfire' | 'fired' }));
  const summary = summarize({ arm: { seq: 1, deviceTs: 1_700_000_000_000, items }, fire: { seq: 2, deviceTs: 1_700_000_002_000, items: [] }, end: { seq: 3, deviceTs: 1_700_000_002_250, frameType: 'complete', items: end } });
  return { id: 9, site: 3, device: 3001, blastId: 77, outcome: 'complete', createdAt: DATE.toISOString(), summary, start: null, end: { seq: 3, deviceTs: 0, frameType: 'complete', items: end } };
}

t.test('the cross-reference table gives the exact byte offset of every object, and startxref that of the table', async (t) => {
  const pdf = writePdf({ pages: [{ texts: [{ x: 50, y: 700, text: 'one' }] }, { texts: [{ x: 50, y: 700, text: 'two' }] }], creationDate: DATE });
  const s = pdf.toString('latin1');
  t.equal(s.slice(0, 9), '%PDF-1.4\n', 'PDF 1.4 header');
  t.ok(s.endsWith('%%EOF\n'));
  const startxref = Number(/startxref\n(\d+)\n%%EOF\n$/.exec(s)![1]);
  t.equal(s.slice(startxref, startxref + 5), 'xref\n', 'startxref points at the xref keyword');
  const [, first, count] = /^xref\n(\d+) (\d+)\n/.exec(s.slice(startxref))!;
  t.equal(Number(first), 0);
  t.equal(Number(count), 5 + 2 * 2 + 1, 'catalog, pages, two fonts, info, and a page + content per page, plus entry 0');
  const entries = s.slice(startxref).split('\n').slice(2, 2 + Number(count));
  t.equal(entries[0], '0000000000 65535 f ', 'entry 0 is the head of the free list');
  entries.slice(1).forEach((e, i) => {
    t.equal(e.length + 1, 20, `entry ${i + 1} is 20 bytes with its end of line`);
    const offset = Number(e.slice(0, 10));
    t.equal(s.slice(offset, offset + `${i + 1} 0 obj`.length), `${i + 1} 0 obj`, `entry ${i + 1} points at object ${i + 1}`);
  });
  t.match(s, /\/Size 10 \/Root 1 0 R \/Info 5 0 R/, 'trailer names the catalog and info');
  t.match(s, /\/BaseFont \/Helvetica \/Encoding \/WinAnsiEncoding/);
  t.match(s, /\/Count 2/);
});

t.test('each content stream is uncompressed and its /Length is its byte length', async (t) => {
  const s = writePdf({ pages: [{ texts: [{ x: 1, y: 2, text: 'é (x) \\ y' }], lines: [{ x1: 0, y1: 0, x2: 10, y2: 10 }], rects: [{ x: 0, y: 0, w: 5, h: 5, gray: 0.9 }] }], creationDate: DATE }).toString('latin1');
  const streams = [...s.matchAll(/<< \/Length (\d+) >>\nstream\n/g)];
  t.equal(streams.length, 1);
  for (const m of streams) {
    const start = m.index! + m[0].length;
    t.equal(s.indexOf('endstream', start) - start, Number(m[1]), '/Length matches the bytes before endstream');
    t.notMatch(s, /\/Filter/, 'no compression filter');
  }
  t.match(s, /BT \/F1 10 Tf 1 2 Td \(\\351 \\\(x\\\) \\\\ y\) Tj ET/, 'text operator with escaped string');
});

t.test('strings escape ( ) \\ and write WinAnsi bytes as octal; what WinAnsi lacks becomes ?', async (t) => {
  t.equal(pdfString('a(b)c\\d'), '(a\\(b\\)c\\\\d)');
  t.equal(pdfString('é—€'), '(\\351\\227\\200)', 'Latin-1 and cp1252 characters by their WinAnsi byte');
  t.equal(pdfString('Ω→'), '(??)', 'no WinAnsi byte: ?');
  t.equal(pdfString('a\nb\tc'), '(a b c)', 'control characters become spaces');
  const pdf = writePdf({ pages: [{ texts: [{ x: 50, y: 700, text: 'Paren (test) back\\slash é — 100 %', size: 14, font: 'bold' }] }], creationDate: DATE });
  const { text, infoErrors } = await poppler(pdf);
  t.equal(infoErrors, '', 'poppler reports no syntax error');
  t.match(text, 'Paren (test) back\\slash é — 100 %', 'pdftotext reads the text back as written');
});

t.test('a long detonator table flows onto several pages with its header and a page footer on each; every id appears once', async (t) => {
  const r = report(260);
  const pdf = reportPdf(r, { creationDate: DATE });
  const { info, infoErrors, text } = await poppler(pdf);
  t.equal(infoErrors, '', 'pdfinfo and pdftotext complain about nothing');
  const pages = Number(/Pages:\s+(\d+)/.exec(info)![1]);
  t.ok(pages >= 4, `${pages} pages`);
  t.match(info, /PDF version:\s+1\.4/);
  t.match(info, /Title:\s+Blast report: site 3, device 3001, blast 77/);
  const texts = text.split('\f').filter((p) => p.trim() !== '');
  t.equal(texts.length, pages);
  texts.forEach((p, i) => {
    t.match(p, /Detonator\s+Delay \(ms\)\s+Voltage at arm \(V\)/, `page ${i + 1} has the table header`);
    t.match(p, `page ${i + 1} of ${pages}`, `page ${i + 1} has its footer`);
  });
  for (const d of r.summary.detonators) {
    const rows = text.match(new RegExp(`^\\s*${d.id}\\s+${d.delayMs}\\s+24\\.20\\s+2\\.750\\s+${d.status}\\s+0\\s*$`, 'gm'));
    if (rows?.length !== 1) t.fail(`detonator ${d.id} appears ${rows?.length ?? 0} times`);
  }
  t.match(text, /Detonators expected: 260\b/);
  t.match(text, /Misfired: 6\b/);
  t.match(text, /Fired: 254\b/);
  t.match(text, /Arm to fire: 2000 ms/);
  t.same(reportPdf(r, { creationDate: DATE }), pdf, 'the same report and date give the same bytes');
});

t.test('a report without detonators and an empty document are still valid PDFs with one page', async (t) => {
  for (const pdf of [reportPdf(report(0), { creationDate: DATE }), writePdf({ pages: [] })]) {
    const { info, infoErrors } = await poppler(pdf);
    t.equal(infoErrors, '');
    t.match(info, /Pages:\s+1\n/);
  }
});

t.test('text measuring: widths from the Helvetica metrics, cutting with an ellipsis, wrapping at spaces', async (t) => {
  t.equal(textWidth('0123456789', 10), 55.6, 'digits are 556/1000 em');
  t.ok(textWidth('Fired', 10, 'bold') > textWidth('Fired', 10));
  const cut = fitText('a rather long piece of text', 50, 10);
  t.ok(cut.endsWith('…') && textWidth(cut, 10) <= 50, `cut to ${cut}`);
  t.equal(fitText('short', 100, 10), 'short');
  const lines = wrapText('one two three four five six seven eight nine ten', 60, 10);
  t.ok(lines.length > 1 && lines.every((l) => textWidth(l, 10) <= 60), lines.join(' | '));
  t.equal(lines.join(' '), 'one two three four five six seven eight nine ten', 'wrapping loses no word');
});
