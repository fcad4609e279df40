/**
 * The report service's HTTP routes (mounted at /reports):
 * - `GET /reports?site=&device=&outcome=&limit=`: the list, newest first, without the
 *   per-detonator tables; an unknown or malformed parameter is a 400 naming it.
 * - `GET /reports/:id` or `:id.json`: the whole report as JSON; `:id.html` a page; `:id.pdf` a PDF.
 *   The runtime's router matches whole segments, so one `/:file` route splits the extension
 *   itself. A malformed id is 400, an unknown id or format 404.
 */
import type pg from 'pg';
import { HttpError, type HttpResponse, type HttpRoute } from '../../runtime/sdk.js';
import { reportHtml } from './html.js';
import { reportPdf } from './reportPdf.js';
import { getReport, listReports, type Report, type ReportFilter } from './reportStore.js';
import type { Outcome } from './summarize.js';

const OUTCOMES: readonly Outcome[] = ['complete', 'abort', 'fault'];
const FORMATS = ['json', 'html', 'pdf'] as const;
type Format = (typeof FORMATS)[number];
const LIST_PARAMS = ['site', 'device', 'outcome', 'limit'];
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/** The routes read the instance's pool from its state. */
export const reportRoutes: HttpRoute<{ pool: pg.Pool }>[] = [
  { method: 'GET', path: '/', handler: async (req, _ctx, { pool }) => {
    const reports = await listReports(pool, listFilter(req.query));
    return { body: { count: reports.length, reports } };
  } },
  { method: 'GET', path: '/:file', handler: async (req, _ctx, { pool }) => {
    const { id, format } = parseFile(req.params.file!);
    const report = await getReport(pool, id);
    if (!report) throw new HttpError(404, `no report ${id}`);
    return render(report, format);
  } },
];

export const HTML_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
} as const;

function render(report: Report, format: Format): HttpResponse {
  const name = `blast-${report.site}-${report.device}-${report.blastId}`;
  // The page carries device-sent text (escaped); these make sure nothing in it ever runs: no
  // script of any origin, no sniffing the type, no framing, its one inline <style> only.
  if (format === 'html') return { headers: { 'content-type': 'text/html; charset=utf-8', ...HTML_HEADERS }, body: reportHtml(report) };
  if (format === 'pdf') return { headers: { 'content-type': 'application/pdf', 'content-disposition': `inline; filename="${name}.pdf"` }, body: reportPdf(report) };
  return { body: report };
}

/** `12`, `12.json`, `12.html`, `12.pdf` → the id and the format. */
export function parseFile(file: string): { id: number; format: Format } {
  const dot = file.lastIndexOf('.');
  const base = dot === -1 ? file : file.slice(0, dot);
  const ext = dot === -1 ? 'json' : file.slice(dot + 1);
  if (!/^[1-9]\d{0,15}$/.test(base) || !Number.isSafeInteger(Number(base))) throw new HttpError(400, `report id '${base}' is not a positive integer`);
  if (!(FORMATS as readonly string[]).includes(ext)) throw new HttpError(404, `no format '.${ext}' for report ${base}; expected .json, .html or .pdf`);
  return { id: Number(base), format: ext as Format };
}

/** The list's filter; an unknown parameter is refused too, since a typo (`?sit=`) would otherwise silently widen the answer. */
export function listFilter(query: URLSearchParams): ReportFilter {
  const seen = new Set<string>();
  for (const name of query.keys()) {
    if (!LIST_PARAMS.includes(name)) throw new HttpError(400, `unknown query parameter '${name}'; expected ${LIST_PARAMS.join(', ')}`);
    if (seen.has(name)) throw new HttpError(400, `query parameter '${name}' is given more than once`);
    seen.add(name);
  }
  const filter: ReportFilter = { limit: DEFAULT_LIMIT };
  const site = query.get('site');
  const device = query.get('device');
  const outcome = query.get('outcome');
  const limit = query.get('limit');
  if (site !== null) filter.site = integer('site', site, 0, 4_294_967_295, 'an id (an integer from 0 to 4294967295)');
  if (device !== null) filter.device = integer('device', device, 0, 4_294_967_295, 'an id (an integer from 0 to 4294967295)');
  if (outcome !== null) {
    if (!(OUTCOMES as readonly string[]).includes(outcome)) throw new HttpError(400, `outcome: '${outcome}' is not one of ${OUTCOMES.join(', ')}`);
    filter.outcome = outcome as Outcome;
  }
  if (limit !== null) filter.limit = integer('limit', limit, 1, MAX_LIMIT, `an integer from 1 to ${MAX_LIMIT}`);
  return filter;
}

function integer(name: string, raw: string, min: number, max: number, expected: string): number {
  const n = /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, `${name}: '${raw}' is not ${expected}`);
  return n;
}
