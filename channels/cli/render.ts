/**
 * What the `hydra channel …` tables need beyond the shared CLI table (core/table.ts): an error
 * text as one cell.
 */

/** One line of at most `max` characters: white space runs collapsed, the rest cut with `…`. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return [...flat].length <= max ? flat : `${[...flat].slice(0, max - 1).join('')}…`;
}
