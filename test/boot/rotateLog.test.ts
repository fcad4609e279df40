/**
 * node.log rotation in no-systemd mode (issue 14, finding 5): boot.sh's supervisor rotates the
 * log its daemon appends to, copytruncate style, past HYDRA_NODE_LOG_MAX_KB, keeping
 * HYDRA_NODE_LOG_KEEP old files. Tested through `boot.sh __rotate_log` (the same function the
 * supervisor's loop calls), without root; the loop itself runs in test/boot/boot.e2e.ts.
 */
import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const BOOT = fileURLToPath(new URL('../../boot.sh', import.meta.url));

const rotate = (file: string, maxKb: string, keep: string) => promisify(execFile)('bash', [BOOT, '__rotate_log', file, maxKb, keep]);

t.test('past its size the log is copied to .1 and truncated; older ones shift up to the count; writers keep appending', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hydra-rotate-'));
  const log = path.join(dir, 'node.log');
  // The daemon's stdout: opened once for append and kept open, as boot.sh's `>>` redirection does.
  const fd = openSync(log, 'a');
  t.teardown(() => closeSync(fd));
  const write = (tag: string, kb: number) => writeSync(fd, `${tag}:${'x'.repeat(kb * 1024 - tag.length - 2)}\n`);

  write('small', 5);
  await rotate(log, '10', '3');
  t.notOk(existsSync(`${log}.1`), 'below the size nothing rotates');

  for (const round of ['one', 'two', 'three', 'four']) {
    write(round, 12);
    await rotate(log, '10', '3');
    t.equal(statSync(log).size, 0, `round ${round}: the log was truncated`);
    t.match(readFileSync(`${log}.1`, 'utf8'), new RegExp(`${round}:`), `round ${round}: its content is in node.log.1`);
  }
  t.match(readFileSync(`${log}.2`, 'utf8'), /^three:/);
  t.match(readFileSync(`${log}.3`, 'utf8'), /^two:/);
  t.notOk(existsSync(`${log}.4`), 'no more than 3 old files are kept');

  write('after', 1);
  t.equal(statSync(log).size, 1024, 'the open writer appends at the new end (no hole where the old content was)');
  t.match(readFileSync(log, 'utf8'), /^after:/);
});

t.test('bad settings are refused, naming the variable', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hydra-rotate-'));
  const stderrOf = (p: Promise<unknown>) => p.then(() => '', (err: { stderr?: string }) => err.stderr ?? '');
  t.match(await stderrOf(rotate(path.join(dir, 'node.log'), '10M', '3')), /HYDRA_NODE_LOG_MAX_KB/);
  t.match(await stderrOf(rotate(path.join(dir, 'node.log'), '10', '0')), /at least 1 \(HYDRA_NODE_LOG_KEEP\)/);
});
