// Build step after tsc: copies the non-TypeScript files the compiled code reads at run time
// (the default topology, SQL schemas, OpenAPI documents, the nginx and PgBouncer templates) into
// dist/, beside their modules, and removes what dist/ holds of sources that are gone. tsc never
// deletes an output: a module moved or removed in the sources would live on in dist/, still
// importable and still counted in the hash of its service's folder (deploy/serviceHashes.ts),
// so a checkout built before the move would disagree with a clean build of the same commit.
import { cpSync, existsSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ASSET = /\.(json|sql|conf|ini|txt)$/;
const ROOTS = ['bin', 'core', 'channels', 'supervisor', 'runtime', 'services', 'nginx', 'pgbouncer', 'scheduler', 'deploy', 'node'];
/** Outputs of tsc, by the source they come from. */
const COMPILED = /\.(d\.ts\.map|d\.ts|js\.map|js)$/;

let copied = 0;
function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const from = join(dir, name);
    if (statSync(from).isDirectory()) copyAssets(from);
    else if (ASSET.test(name)) {
      cpSync(from, join('dist', from));
      copied++;
    }
  }
}

let removed = 0;
/** Removes dist files without a source (and folders left empty); true when `dir` is empty after. */
function prune(dir) {
  let left = 0;
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    const source = file.slice('dist/'.length);
    if (statSync(file).isDirectory()) {
      if (prune(file)) rmdirSync(file);
      else left++;
      continue;
    }
    const exists = COMPILED.test(name) ? existsSync(source.replace(COMPILED, '.ts')) : existsSync(source);
    if (exists) left++;
    else {
      rmSync(file);
      removed++;
    }
  }
  return left === 0;
}

for (const root of ROOTS) if (existsSync(root)) copyAssets(root);
for (const root of ROOTS) if (existsSync(join('dist', root)) && prune(join('dist', root))) rmdirSync(join('dist', root));
process.stdout.write(`copied ${copied} asset file(s) into dist/${removed > 0 ? `, removed ${removed} file(s) whose source is gone` : ''}\n`);
