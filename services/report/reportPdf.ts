/**
 * Lays a report out as PDF pages (pdf.ts writes them): the title, site/device/blast, outcome,
 * the counts, the timing, any warnings, then the per-detonator table, continued on as many
 * pages as it needs with its header repeated, and a footer naming the blast and the page on
 * every page. A4 portrait, Helvetica.
 */
import { A4, fitText, textWidth, wrapText, writePdf, type PdfPage } from './pdf.js';
import { countLines, outcomeLabel, TABLE_COLUMNS, tableCells, timingLines, title } from './format.js';
import type { Report } from './reportStore.js';

const MARGIN = 50;
const TOP = A4.height - MARGIN;
/** The lowest baseline of body text; the footer sits below it. */
const BOTTOM = 60;
const WIDTH = A4.width - 2 * MARGIN;
/** Column widths of the detonator table (sum = WIDTH). */
const COLUMNS = [60, 65, 95, 120, 95, 60];
const ROW = 13;
const TABLE_SIZE = 9;

export interface ReportPdfOptions {
  /** Fixed in tests for byte-identical output; default now. */
  creationDate?: Date;
}

export function reportPdf(r: Report, options: ReportPdfOptions = {}): Buffer {
  const pages: PdfPage[] = [];
  let page: PdfPage = { texts: [], lines: [], rects: [] };
  pages.push(page);
  let y = TOP;
  const text = (x: number, s: string, size = 10, font: 'regular' | 'bold' = 'regular') => page.texts.push({ x, y, text: fitText(s, MARGIN + WIDTH - x, size, font), size, font });
  const newPage = () => {
    page = { texts: [], lines: [], rects: [] };
    pages.push(page);
    y = TOP;
  };
  const heading = (s: string) => {
    y -= 10;
    text(MARGIN, s, 12, 'bold');
    y -= 16;
  };
  // The value right after its label, not in an aligned column: text extraction (pdftotext
  // -layout) turns a wide gap into a run of spaces, and "Fired: 45" should read as one phrase.
  const pairs = (rows: Array<[string, string]>) => {
    for (const [label, value] of rows) {
      text(MARGIN, `${label}:`);
      text(MARGIN + textWidth(`${label}: `, 10), value, 10, 'bold');
      y -= 14;
    }
  };

  text(MARGIN, title(r), 16, 'bold');
  y -= 22;
  text(MARGIN, `Site ${r.site}   Device ${r.device}   Blast ${r.blastId}`);
  y -= 14;
  text(MARGIN, `Outcome: ${outcomeLabel(r)}`, 10, 'bold');
  y -= 14;
  text(MARGIN, `Report ${r.id}, created ${r.createdAt}`, 9);
  y -= 10;
  heading('Counts');
  pairs(countLines(r));
  heading('Timing (device clock)');
  pairs(timingLines(r));
  if (r.summary.warnings.length > 0) {
    heading('Warnings');
    for (const warning of r.summary.warnings) {
      for (const line of wrapText(`- ${warning}`, WIDTH, 9)) {
        text(MARGIN, line, 9);
        y -= 12;
      }
    }
  }
  heading(`Detonators (${r.summary.detonators.length})`);

  const tableHeader = () => {
    page.rects!.push({ x: MARGIN, y: y - 4, w: WIDTH, h: ROW + 2, gray: 0.88 });
    let x = MARGIN;
    TABLE_COLUMNS.forEach((label, i) => {
      page.texts.push({ x: x + 3, y, text: fitText(label, COLUMNS[i]! - 6, 8, 'bold'), size: 8, font: 'bold' });
      x += COLUMNS[i]!;
    });
    y -= ROW + 2;
  };
  if (r.summary.detonators.length === 0) text(MARGIN, 'No detonator records.', 9);
  else {
    if (y - 2 * ROW < BOTTOM) newPage();
    tableHeader();
    for (const d of r.summary.detonators) {
      if (y < BOTTOM) {
        newPage();
        tableHeader();
      }
      let x = MARGIN;
      tableCells(d).forEach((cell, i) => {
        page.texts.push({ x: x + 3, y, text: fitText(cell, COLUMNS[i]! - 6, TABLE_SIZE), size: TABLE_SIZE });
        x += COLUMNS[i]!;
      });
      page.lines!.push({ x1: MARGIN, y1: y - 3.5, x2: MARGIN + WIDTH, y2: y - 3.5, width: 0.25, gray: 0.75 });
      y -= ROW;
    }
  }

  pages.forEach((p, i) => {
    p.texts.push({ x: MARGIN, y: 30, text: `Site ${r.site} / device ${r.device} / blast ${r.blastId} - page ${i + 1} of ${pages.length}`, size: 8 });
  });
  return writePdf({ pages, title: title(r), ...(options.creationDate ? { creationDate: options.creationDate } : {}) });
}
