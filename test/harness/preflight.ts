/**
 * `npm test`'s preflight: every program outside Node.js that the suite runs, the Debian package
 * that installs it, and which of them this machine lacks. Checked before any test starts, so a
 * missing tool is one line naming the package instead of `spawn … ENOENT` deep in a test.
 */
import { accessSync, constants, readdirSync } from 'node:fs';
import path from 'node:path';

export interface Tool {
  /** The program as the tests run it (looked up on PATH). */
  command: string;
  /** The Debian package that installs it. */
  pkg: string;
  /** What needs it, for the reader of this list. */
  usedBy: string;
}

/** Tools every run needs, whatever servers it is given. */
const ALWAYS: Tool[] = [
  { command: 'pdftotext', pkg: 'poppler-utils', usedBy: 'report PDFs read back (services, pipeline)' },
  { command: 'pdfinfo', pkg: 'poppler-utils', usedBy: 'report PDFs checked (services/pdf)' },
  { command: 'git', pkg: 'git', usedBy: 'git-push deploys (deploy)' },
  { command: 'pgbouncer', pkg: 'pgbouncer', usedBy: 'a real PgBouncer in front of PostgreSQL (scheduler, pgbouncer)' },
  { command: 'openssl', pkg: 'openssl', usedBy: 'throwaway certificates (nginx, node)' },
  { command: 'redis-server', pkg: 'redis-server', usedBy: "the chaos suite's own Redis, and the harness's when REDIS_URL is unset" },
  { command: 'tar', pkg: 'tar', usedBy: 'release tarballs (deploy)' },
];

/** Where Debian puts daemons; not on a non-root user's PATH, but the tests run them by name. */
export const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** PATH with the sbin directories appended when absent (pgbouncer and nginx live there). */
export function testPath(pathVar: string | undefined): string {
  const dirs = (pathVar ?? '').split(path.delimiter).filter(Boolean);
  for (const d of SBIN_DIRS) if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(path.delimiter);
}

/** The tools this run needs: PostgreSQL's server binaries only when the harness starts its own. */
export function requiredTools(env: NodeJS.ProcessEnv): Tool[] {
  const nginx = env.HYDRA_NGINX_BIN || 'nginx';
  return [...ALWAYS, { command: nginx, pkg: 'nginx', usedBy: 'nginx -t and a real nginx master (nginx, node)' }];
}

export function findOnPath(command: string, pathVar: string): string | null {
  const candidates = command.includes('/') ? [command] : pathVar.split(path.delimiter).filter(Boolean).map((d) => path.join(d, command));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not there: try the next directory
    }
  }
  return null;
}

/**
 * The directory of PostgreSQL's server binaries (initdb, postgres): the highest version under
 * /usr/lib/postgresql (Debian keeps them off PATH), else wherever initdb is on PATH.
 */
export function postgresBinDir(pathVar: string, root = '/usr/lib/postgresql'): string | null {
  let versions: string[] = [];
  try {
    versions = readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch {
    // no Debian PostgreSQL: fall back to PATH
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = path.join(root, v, 'bin');
    if (findOnPath(path.join(bin, 'initdb'), '') && findOnPath(path.join(bin, 'postgres'), '')) return bin;
  }
  const initdb = findOnPath('initdb', pathVar);
  return initdb && findOnPath(path.join(path.dirname(initdb), 'postgres'), '') ? path.dirname(initdb) : null;
}

/** One line per missing tool, `missing <command>: apt-get install <package>`; empty when all are there. */
export function preflight(env: NodeJS.ProcessEnv, pathVar: string, postgresRoot?: string): string[] {
  const lines = requiredTools(env)
    .filter((tool) => !findOnPath(tool.command, pathVar))
    .map((tool) => `missing ${tool.command}: apt-get install ${tool.pkg} (${tool.usedBy})`);
  if (!env.DATABASE_URL && !postgresBinDir(pathVar, postgresRoot)) {
    lines.push('missing initdb: apt-get install postgresql (the throwaway PostgreSQL started when DATABASE_URL is unset)');
  }
  return lines;
}
