/** Benches measure the compiled code a node runs: build dist/ (tsc + assets) first. */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { progress } from './report.js';

export function buildDist(): void {
  progress('building dist/ (benches measure the compiled code)');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: fileURLToPath(new URL('../', import.meta.url)), stdio: ['ignore', 'ignore', 'inherit'] });
}
