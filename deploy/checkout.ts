/**
 * Reading the pushed commit out of the deploy repository: the branch's current value (to notice
 * a push that waited while the one before moved the branch), the commit's subject, and its files
 * into the release directory (`git archive | tar -x`: a plain tree, no .git, the repository's
 * index and HEAD untouched).
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { DeployError } from './errors.js';

const run = promisify(execFile);

/** The commit `ref` names now, or null when it does not exist. */
export async function refValue(env: Record<string, string>, ref: string): Promise<string | null> {
  try {
    const { stdout } = await run('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { env });
    return stdout.trim() || null;
  } catch {
    return null;
  }
}

export async function commitSubject(env: Record<string, string>, commit: string): Promise<string> {
  try {
    const { stdout } = await run('git', ['log', '-1', '--format=%s', commit], { env });
    return stdout.trim();
  } catch {
    return '';
  }
}

/** Writes the commit's files into `dir` (which exists and is empty). */
export async function checkoutCommit(env: Record<string, string>, commit: string, dir: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const archive = spawn('git', ['archive', '--format=tar', commit], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tar = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
    let errors = '';
    archive.stderr.on('data', (d: Buffer) => (errors += d.toString()));
    tar.stderr.on('data', (d: Buffer) => (errors += d.toString()));
    archive.stdout.pipe(tar.stdin);
    let pending = 2;
    let failed: string | null = null;
    const done = (what: string) => (code: number | null) => {
      if (code !== 0 && failed === null) failed = `${what} exited ${code}`;
      if (--pending === 0) {
        if (failed === null) resolve();
        else reject(new DeployError('checkout', `could not check out ${commit}: ${failed}${errors.trim() ? `: ${errors.trim().split('\n').pop()}` : ''}`));
      }
    };
    archive.on('error', (err) => reject(new DeployError('checkout', `git archive: ${err.message}`)));
    tar.on('error', (err) => reject(new DeployError('checkout', `tar: ${err.message}`)));
    archive.on('close', done('git archive'));
    tar.on('close', done('tar'));
  });
}
