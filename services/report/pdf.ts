/**
 * A small dependency-free PDF writer: PDF 1.4, the standard-14 fonts Helvetica and
 * Helvetica-Bold (not embedded; every viewer has them) in WinAnsiEncoding, uncompressed content
 * streams, and a cross-reference table with exact byte offsets. Enough for reports: positioned
 * text, lines and filled rectangles on any number of pages; layout is the caller's job, helped
 * by `textWidth` (the fonts' AFM widths) and `fitText`.
 *
 * Text outside ASCII is written as octal escapes of its WinAnsi byte (characters WinAnsi lacks
 * become '?'), and the file is built as a Latin-1 string, so string length = byte length and the
 * offsets in the xref table are simply the lengths of what came before (PDF 32000-1 §7.5.4:
 * each entry is exactly 20 bytes, "oooooooooo ggggg n" + a two-byte end of line).
 */

export type PdfFont = 'regular' | 'bold';

/** Coordinates are PDF points (1/72 inch) from the bottom-left corner of the page. */
export interface PdfText {
  x: number;
  y: number;
  text: string;
  /** Default 10. */
  size?: number;
  font?: PdfFont;
}

export interface PdfLine {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  /** Default 0.5. */
  width?: number;
  /** 0 black … 1 white; default 0. */
  gray?: number;
}

export interface PdfRect {
  x: number;
  y: number;
  w: number;
  h: number;
  /** Fill gray, 0 black … 1 white. */
  gray: number;
}

export interface PdfPage {
  texts: PdfText[];
  lines?: PdfLine[];
  /** Painted first, under lines and text. */
  rects?: PdfRect[];
}

export interface PdfDocument {
  pages: PdfPage[];
  /** Default A4: 595 × 842 points. */
  width?: number;
  height?: number;
  title?: string;
  /** Default now; fixed in tests for byte-identical output. */
  creationDate?: Date;
}

export const A4 = { width: 595, height: 842 } as const;

// ---- text --------------------------------------------------------------------------------

/** Unicode → WinAnsi (cp1252) bytes 0x80–0x9F; 0xA0–0xFF are the same as Latin-1. */
const CP1252: Record<string, number> = {
  '€': 0x80, '‚': 0x82, 'ƒ': 0x83, '„': 0x84, '…': 0x85, '†': 0x86, '‡': 0x87, 'ˆ': 0x88, '‰': 0x89, 'Š': 0x8a, '‹': 0x8b, 'Œ': 0x8c, 'Ž': 0x8e,
  '‘': 0x91, '’': 0x92, '“': 0x93, '”': 0x94, '•': 0x95, '–': 0x96, '—': 0x97, '˜': 0x98, '™': 0x99, 'š': 0x9a, '›': 0x9b, 'œ': 0x9c, 'ž': 0x9e, 'Ÿ': 0x9f,
};

/** The WinAnsi byte of one character: '?' for what the encoding lacks, a space for control characters. */
function winAnsi(ch: string): number {
  const code = ch.codePointAt(0)!;
  if (code < 0x20 || code === 0x7f) return 0x20;
  if (code < 0x7f || (code >= 0xa0 && code <= 0xff)) return code;
  return CP1252[ch] ?? 0x3f;
}

/** `text` as a PDF literal string, parentheses included: ( ) \ escaped, non-ASCII as octal. */
export function pdfString(text: string): string {
  let out = '(';
  for (const ch of text) {
    const b = winAnsi(ch);
    if (b === 0x28 || b === 0x29 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b >= 0x80) out += `\\${b.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(b);
  }
  return `${out})`;
}

// AFM advance widths (1/1000 em) of characters 32–126 in Helvetica and Helvetica-Bold.
const WIDTHS: Record<PdfFont, number[]> = {
  regular: [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
  ],
  bold: [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
  ],
};

/** Width of `text` in points; characters beyond ASCII are taken as 556 (a digit's width), close enough for layout. */
export function textWidth(text: string, size: number, font: PdfFont = 'regular'): number {
  let units = 0;
  for (const ch of text) {
    const b = winAnsi(ch);
    units += b >= 32 && b <= 126 ? WIDTHS[font][b - 32]! : 556;
  }
  return (units * size) / 1000;
}

/** `text` cut to fit `maxWidth`, ending in '…' when cut. */
export function fitText(text: string, maxWidth: number, size: number, font: PdfFont = 'regular'): string {
  if (textWidth(text, size, font) <= maxWidth) return text;
  const chars = [...text];
  while (chars.length > 0 && textWidth(`${chars.join('')}…`, size, font) > maxWidth) chars.pop();
  return `${chars.join('')}…`;
}

/** `text` broken at spaces into lines no wider than `maxWidth` (a word longer than a line is cut). */
export function wrapText(text: string, maxWidth: number, size: number, font: PdfFont = 'regular'): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const candidate = line ? `${line} ${word}` : word;
    if (textWidth(candidate, size, font) <= maxWidth) line = candidate;
    else {
      if (line) lines.push(line);
      line = fitText(word, maxWidth, size, font);
    }
  }
  if (line) lines.push(line);
  return lines;
}

// ---- document ----------------------------------------------------------------------------

/** A number as PDF writes it: no exponent, at most 2 decimals. */
function num(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`PDF coordinate ${n} is not a finite number`);
  return String(Math.round(n * 100) / 100);
}

function pageContent(page: PdfPage): string {
  const ops: string[] = [];
  for (const r of page.rects ?? []) ops.push(`${num(r.gray)} g ${num(r.x)} ${num(r.y)} ${num(r.w)} ${num(r.h)} re f`);
  for (const l of page.lines ?? []) ops.push(`${num(l.width ?? 0.5)} w ${num(l.gray ?? 0)} G ${num(l.x1)} ${num(l.y1)} m ${num(l.x2)} ${num(l.y2)} l S`);
  if (page.texts.length > 0) ops.push('0 g');
  for (const t of page.texts) ops.push(`BT /${t.font === 'bold' ? 'F2' : 'F1'} ${num(t.size ?? 10)} Tf ${num(t.x)} ${num(t.y)} Td ${pdfString(t.text)} Tj ET`);
  return `${ops.join('\n')}\n`;
}

function pdfDate(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `D:${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

/** The whole document as PDF 1.4 bytes. A document without pages gets one empty page (a PDF needs one). */
export function writePdf(doc: PdfDocument): Buffer {
  const width = doc.width ?? A4.width;
  const height = doc.height ?? A4.height;
  const pages = doc.pages.length > 0 ? doc.pages : [{ texts: [] }];
  // Objects 1–5 are fixed; page i is object 6 + 2i and its content stream 7 + 2i.
  const objects: string[] = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${pages.map((_, i) => `${6 + 2 * i} 0 R`).join(' ')}] /Count ${pages.length} >>`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>',
    `<< ${doc.title !== undefined ? `/Title ${pdfString(doc.title)} ` : ''}/Producer (Hydra report service) /CreationDate ${pdfString(pdfDate(doc.creationDate ?? new Date()))} >>`,
  ];
  pages.forEach((page, i) => {
    const content = pageContent(page);
    objects.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${num(width)} ${num(height)}] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents ${7 + 2 * i} 0 R >>`);
    // ASCII only (text is octal-escaped), so the string's length is the stream's byte length.
    objects.push(`<< /Length ${content.length} >>\nstream\n${content}endstream`);
  });

  // The comment after the header has bytes over 127, as PDF 32000-1 §7.5.2 recommends, so
  // transfer tools treat the file as binary. Written with latin1, so one char = one byte.
  let out = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) out += `${String(offset).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R /Info 5 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
