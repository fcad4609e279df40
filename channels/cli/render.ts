/**
 * People output of the `hydra channel …` commands, in the layout of the `hydra scheduler …`
 * tables (aligned columns under upper-case headers, two spaces apart, UTC times to the second).
 * A copy of the few lines of scheduler/cli/table.ts they need: channels/ imports nothing of the
 * other components.
 */

/** Columns aligned under upper-case headers; no trailing spaces. */
export function renderTable(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const width = (s: string) => [...s].length;
  const widths = headers.map((_, i) => Math.max(...all.map((cells) => width(cells[i] ?? ''))));
  return all
    .map((cells) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell)))).join('  ').trimEnd())
    .join('\n');
}

/** `2025-03-01 14:02:09Z`. */
export function formatTime(at: Date): string {
  return `${at.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** `1 dead letter`, `3 dead letters`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** One line of at most `max` characters: white space runs collapsed, the rest cut with `…`. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return [...flat].length <= max ? flat : `${[...flat].slice(0, max - 1).join('')}…`;
}
