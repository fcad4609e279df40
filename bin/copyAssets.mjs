// Build step after tsc: copies the non-TypeScript files the compiled code reads at run time
// (the default topology, SQL schemas of the services, the nginx and PgBouncer templates) into
// dist/, beside their modules.
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ASSET = /\.(json|sql|conf|ini|txt)$/;
let copied = 0;
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const from = join(dir, name);
    if (statSync(from).isDirectory()) walk(from);
    else if (ASSET.test(name)) {
      cpSync(from, join('dist', from));
      copied++;
    }
  }
}
for (const root of ['services', 'runtime', 'scheduler', 'nginx', 'pgbouncer', 'deploy', 'node']) if (existsSync(root)) walk(root);
process.stdout.write(`copied ${copied} asset file(s) into dist/\n`);
