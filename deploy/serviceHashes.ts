/**
 * The content hash of each service of a built release: what decides whether a push swaps it.
 * sha256 over, by path relative to the app root (so the release directory's name never counts):
 *   - every file of the service's folder (the folder of its module, node_modules excluded);
 *   - every file reached from those through relative imports, transitively: `import … from
 *     './x.js'`, `export … from '../y.js'`, `import('./z.js')` and `new URL('./asset',
 *     import.meta.url)` in the BUILT JavaScript (what runs, whatever the source language; the
 *     built specifiers are real file names, no resolution rules to guess);
 *   - the release's package-lock.json, so a dependency change changes every service;
 *   - the service's catalog entry (its env, shutdown… change how it runs).
 * The import scan is a regular expression, so a specifier in a comment counts too: it can only
 * make the hash cover more, never miss a file that is really imported.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const SPECIFIERS = [
  /\b(?:import|export)\s[^'";]*?\bfrom\s*(['"])(\.\.?\/[^'"\n]+)\1/g,
  /\bimport\s*(['"])(\.\.?\/[^'"\n]+)\1/g,
  /\bimport\s*\(\s*(['"])(\.\.?\/[^'"\n]+)\1\s*[,)]/g,
  /\bnew\s+URL\s*\(\s*(['"])(\.\.?\/[^'"\n]+)\1\s*,\s*import\.meta\.url\s*\)/g,
];
const CODE = /\.(m?js|cjs)$/;

/** Files a module names through relative specifiers (those that exist). */
export function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = new Set<string>();
  for (const re of SPECIFIERS) {
    for (const m of text.matchAll(re)) {
      const target = path.resolve(path.dirname(file), m[2]!.replace(/[?#].*$/, ''));
      if (existsSync(target) && statSync(target).isFile()) found.add(target);
    }
  }
  return [...found];
}

function folderFiles(dir: string, out: Set<string>): void {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const file = path.join(dir, name);
    const st = statSync(file);
    if (st.isDirectory()) folderFiles(file, out);
    else if (st.isFile()) out.add(file);
  }
}

/** The files a service's hash covers: its folder plus what they import, transitively (absolute paths). */
export function serviceFiles(appRoot: string, moduleFile: string): string[] {
  const folder = path.dirname(moduleFile);
  const files = new Set<string>([moduleFile]);
  // A module lying directly in services/ (or the app root) has no folder of its own: it alone.
  if (folder !== appRoot && folder !== path.join(appRoot, 'services')) folderFiles(folder, files);
  const queue = [...files].filter((f) => CODE.test(f));
  while (queue.length > 0) {
    for (const target of relativeImports(queue.pop()!)) {
      if (files.has(target)) continue;
      files.add(target);
      if (CODE.test(target)) queue.push(target);
    }
  }
  return [...files].sort();
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Keys sorted, so a reformatted catalog with the same settings hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface HashInput {
  id: string;
  /** Relative to the app root. */
  module: string;
  entry: unknown;
}

/** Service id → hex sha256. `lockfile` is the release's package-lock.json (or null). */
export function serviceHashes(appRoot: string, services: HashInput[], lockfile: Buffer | null): Record<string, string> {
  const lock = lockfile === null ? 'none' : sha256(lockfile);
  const out: Record<string, string> = {};
  for (const s of services) {
    const lines = serviceFiles(appRoot, path.resolve(appRoot, s.module)).map((f) => `file ${path.relative(appRoot, f).split(path.sep).join('/')} ${sha256(readFileSync(f))}`);
    lines.push(`package-lock.json ${lock}`, `catalog ${canonical(s.entry)}`);
    out[s.id] = sha256(lines.join('\n'));
  }
  return out;
}
