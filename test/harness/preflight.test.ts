/**
 * npm test's preflight: a missing tool is one line naming its Debian package, and the run stops
 * there, before any server is started or any test runs.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { postgresBinDir, preflight, testPath } from './preflight.js';

function tempDir(t: Test): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hydra-preflight-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function fakeTool(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, '#!/bin/sh\n');
  chmodSync(file, 0o755);
  return file;
}

const EVERY_TOOL_BUT_PDFTOTEXT = ['pdfinfo', 'git', 'pgbouncer', 'openssl', 'redis-server', 'tar'];

t.test('one line per missing tool, naming its package; nothing when all are there', async (t) => {
  const bin = tempDir(t);
  for (const name of EVERY_TOOL_BUT_PDFTOTEXT) fakeTool(bin, name);
  const env = { DATABASE_URL: 'postgres://x@db/postgres', HYDRA_NGINX_BIN: fakeTool(bin, 'my-nginx') };
  t.same(preflight(env, bin), ['missing pdftotext: apt-get install poppler-utils (report PDFs read back (services, pipeline))']);
  fakeTool(bin, 'pdftotext');
  t.same(preflight(env, bin), [], 'all there');
  t.same(preflight({ DATABASE_URL: env.DATABASE_URL }, bin), ['missing nginx: apt-get install nginx (nginx -t and a real nginx master (nginx, node))'], 'nginx by name unless HYDRA_NGINX_BIN says');
  const noPostgres = path.join(bin, 'no-postgresql');
  t.same(preflight({ HYDRA_NGINX_BIN: env.HYDRA_NGINX_BIN }, bin, noPostgres), ['missing initdb: apt-get install postgresql (the throwaway PostgreSQL started when DATABASE_URL is unset)'], 'initdb only matters without DATABASE_URL');
});

t.test("PostgreSQL's binaries: the highest version under the Debian root, else initdb on PATH", async (t) => {
  const root = tempDir(t);
  for (const v of ['9.6', '15', '16']) for (const name of ['initdb', 'postgres']) fakeTool(path.join(root, v, 'bin'), name);
  fakeTool(path.join(root, '17', 'bin'), 'initdb'); // a client-only install: no server
  t.equal(postgresBinDir('', root), path.join(root, '16', 'bin'));
  const elsewhere = path.join(root, 'elsewhere');
  fakeTool(elsewhere, 'initdb');
  fakeTool(elsewhere, 'postgres');
  t.equal(postgresBinDir(elsewhere, path.join(root, 'none')), elsewhere);
  t.equal(postgresBinDir('', path.join(root, 'none')), null);
});

t.test("the test PATH gets the sbin directories, where Debian puts pgbouncer and nginx", async (t) => {
  t.equal(testPath('/usr/bin:/bin'), '/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin');
  t.equal(testPath('/usr/sbin:/usr/bin'), '/usr/sbin:/usr/bin:/usr/local/sbin:/sbin');
});

t.test('npm test with a tool missing: the line, exit 1, no server started and no test run', async (t) => {
  const bin = tempDir(t);
  // Real tools, except pdftotext; the sbin directories (pgbouncer, nginx) are added by the harness.
  for (const name of EVERY_TOOL_BUT_PDFTOTEXT.filter((n) => n !== 'pgbouncer')) {
    const real = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
    if (real) symlinkSync(real, path.join(bin, name));
  }
  const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'runTests.ts'), 'test/harness.test.ts'], {
    cwd: path.join(import.meta.dirname, '../..'),
    env: { ...process.env, PATH: bin, DATABASE_URL: '', REDIS_URL: '' },
    encoding: 'utf8',
  });
  t.equal(run.status, 1);
  t.match(run.stderr, /^missing pdftotext: apt-get install poppler-utils \(.*\)$/m);
  t.ok(run.stderr.trim().split('\n').every((l) => l.startsWith('missing ')), `only "missing" lines:\n${run.stderr}`);
  t.equal(run.stdout, '', 'tap never ran');
});
