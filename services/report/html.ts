/**
 * A report as a self-contained HTML page (inline CSS, no scripts): title, outcome, counts,
 * timing, warnings and the per-detonator table. Every value goes through `escapeHtml`, numbers
 * included, so nothing from a frame can ever become markup.
 */
import { countLines, outcomeLabel, TABLE_COLUMNS, tableCells, timingLines, title } from './format.js';
import type { Report } from './reportStore.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #111; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
.meta { color: #555; margin-top: 0; }
.outcome { display: inline-block; padding: .1rem .6rem; border-radius: .3rem; font-weight: 600; }
.outcome-complete { background: #dcf5dc; } .outcome-abort { background: #f3f3c8; } .outcome-fault { background: #f8d7d7; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2rem 1.5rem; }
dt { color: #555; } dd { margin: 0; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #ddd; }
th { background: #eee; }
tr.misfire td, tr.fault td { background: #fdecec; }
`;

function definitions(rows: Array<[string, string]>): string {
  return `<dl>${rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

export function reportHtml(r: Report): string {
  const warnings = r.summary.warnings.length > 0 ? `<h2>Warnings</h2><ul>${r.summary.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>` : '';
  const rows = r.summary.detonators
    .map((d) => `<tr class="${escapeHtml(d.status ?? 'unreported')}">${tableCells(d).map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title(r))}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${escapeHtml(title(r))}</h1>
<p class="meta">Site ${escapeHtml(r.site)} · device ${escapeHtml(r.device)} · blast ${escapeHtml(r.blastId)} · report ${escapeHtml(r.id)}, created ${escapeHtml(r.createdAt)} ·
<a href="${escapeHtml(`${r.id}.pdf`)}">PDF</a> · <a href="${escapeHtml(String(r.id))}">JSON</a></p>
<p>Outcome: <span class="outcome outcome-${escapeHtml(r.outcome)}">${escapeHtml(outcomeLabel(r))}</span></p>
<h2>Counts</h2>
${definitions(countLines(r))}
<h2>Timing (device clock)</h2>
${definitions(timingLines(r))}
${warnings}
<h2>Detonators (${escapeHtml(r.summary.detonators.length)})</h2>
<table>
<thead><tr>${TABLE_COLUMNS.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join('')}</tr></thead>
<tbody>
${rows}
</tbody>
</table>
</body>
</html>
`;
}
