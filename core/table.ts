/**
 * People output of the CLI commands (scheduler, deploy, channel…): aligned columns (the layout of `hydra node
 * tree`: two spaces between columns, the last one not padded, widths counted in characters so
 * `→` or `…` do not shift a column), the cell formats they share, and the one place that
 * chooses between the table and the `--json` document.
 */

/** Columns aligned under upper-case headers; no trailing spaces. */
export function renderTable(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const width = (s: string) => [...s].length;
  const widths = headers.map((_, i) => Math.max(...all.map((cells) => width(cells[i] ?? ''))));
  return all
    .map((cells) =>
      cells
        .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell))))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** One JSON document with --json, else the people text; each ends with a newline. */
export function print(json: boolean, value: unknown, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
}

/** `site=north,rack=r1` (keys sorted), or `-` when empty. */
export function formatPairs(pairs: Record<string, string>): string {
  const keys = Object.keys(pairs).sort();
  return keys.length === 0 ? '-' : keys.map((k) => `${k}=${pairs[k]}`).join(',');
}

/** Commits are shown by their first 12 characters, like `git log --abbrev=12`. */
export function shortCommit(commit: string | null): string {
  return commit === null ? '-' : commit.slice(0, 12);
}

/** `2025-03-01 14:02:09Z`: second precision, UTC, so every operator reads the same time. */
export function formatTime(at: Date | null): string {
  return at === null ? '-' : `${at.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** Reservations add up in floating point; people should read 0.3, not 0.30000000000000004. */
export function formatNumber(x: number): string {
  return String(Math.round(x * 1000) / 1000);
}

/** `1 node`, `3 nodes`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** `-` for a value people need not see. */
export function orDash(value: string | number | null | undefined): string {
  return value === null || value === undefined || value === '' ? '-' : String(value);
}
