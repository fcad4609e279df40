/**
 * Putting a rendered config in place the way Piku does, so a bad render never breaks the
 * running nginx: write it beside the live file, `nginx -t` a throwaway main config that includes
 * it, and only then rename it over the live file (atomic) and reload. A rejected render is
 * deleted and the old file stays; an unchanged render touches nothing (no reload).
 *
 * `nginx -t` runs with a prefix in a temp dir (its pid, logs and temp paths there), so it needs
 * no root and never touches the system's nginx: the node's user can validate what it renders.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface ApplyOptions {
  /** The live file nginx includes. */
  file: string;
  nginxBin: string;
  /** argv that reloads the running nginx. */
  reload: string[];
  /** The running master's pid file: the reload waits until the new config serves. */
  pidFile?: string;
  /** Only compare; write, test and reload nothing. */
  checkOnly?: boolean;
  /** Put it in place but reload nothing (nginx is not running yet: it reads the file when it starts). */
  noReload?: boolean;
}

export type ApplyResult =
  /** The live file already holds this text. */
  | { state: 'unchanged' }
  /** checkOnly: the live file differs (or is missing). */
  | { state: 'differs' }
  /** `nginx -t` refused the render; the live file was left as it was. */
  | { state: 'rejected'; error: string }
  /** In place and nginx reloaded (`reloadError` when the reload command failed: retry it). */
  | { state: 'applied'; reloadError: string | null };

interface Run {
  code: number;
  output: string;
}

function run(argv: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim();
      if (!err) return resolve({ code: 0, output });
      const e = err as NodeJS.ErrnoException & { code?: number | string };
      if (e.code === 'ENOENT') return resolve({ code: 127, output: `${argv[0]} was not found (install nginx, or set HYDRA_NGINX_BIN / HYDRA_NGINX_RELOAD)` });
      resolve({ code: typeof e.code === 'number' ? e.code : 1, output: output || e.message });
    });
  });
}

const versions = new Map<string, Promise<[number, number, number] | null>>();

/** The installed nginx's version (`nginx -v`), or null when it cannot be run. */
export function nginxVersion(nginxBin: string): Promise<[number, number, number] | null> {
  let v = versions.get(nginxBin);
  if (!v) {
    v = run([nginxBin, '-v']).then((r) => {
      const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(r.output);
      return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
    });
    versions.set(nginxBin, v);
  }
  return v;
}

const atLeast = (v: [number, number, number] | null, want: [number, number, number]) =>
  v !== null && (v[0] !== want[0] ? v[0] > want[0] : v[1] !== want[1] ? v[1] > want[1] : v[2] >= want[2]);

/** nginx 1.25.1 moved HTTP/2 from a `listen` parameter to `http2 on;` (the old form warns, later fails). */
export async function http2Style(nginxBin: string): Promise<'listen' | 'directive'> {
  return atLeast(await nginxVersion(nginxBin), [1, 25, 1]) ? 'directive' : 'listen';
}

/**
 * `nginx -t` binds the listen sockets: an address in use is tolerated, a privileged port is not
 * (EACCES). Run by the node's own user, the test therefore reads a copy whose ports below 1024
 * are moved up by 60000; everything else is tested as written.
 */
export function unprivilegedListen(text: string): string {
  return text.replace(/^(\s*listen\s+(?:\[[0-9a-fA-F:.]*\]:|[0-9.]+:|[A-Za-z0-9.-]+:)?)(\d+)\b/gm, (all, head: string, port: string) => (Number(port) < 1024 ? `${head}${Number(port) + 60_000}` : all));
}

/** `nginx -t` of a main config that includes `include` inside its http block; null when accepted. */
export async function testNginx(nginxBin: string, include: string): Promise<string | null> {
  const prefix = mkdtempSync(path.join(tmpdir(), 'hydra-nginx-test-'));
  const original = include;
  try {
    if (process.getuid?.() !== 0) {
      include = path.join(prefix, 'candidate.conf');
      writeFileSync(include, unprivilegedListen(readFileSync(original, 'utf8')));
    }
    const temp = (name: string) => `${name}_temp_path ${path.join(prefix, name)};`;
    writeFileSync(
      path.join(prefix, 'nginx.conf'),
      [
        `pid ${path.join(prefix, 'nginx.pid')};`,
        'error_log stderr;',
        'events {}',
        'http {',
        `  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}`,
        '  access_log off;',
        `  include ${include};`,
        '}',
        '',
      ].join('\n'),
    );
    // -e (the log used before the config is read) exists since 1.19.5; older ones write /var/log.
    const early = atLeast(await nginxVersion(nginxBin), [1, 19, 5]) ? ['-e', 'stderr'] : [];
    const r = await run([nginxBin, '-t', '-q', ...early, '-p', prefix, '-c', path.join(prefix, 'nginx.conf')]);
    return r.code === 0 ? null : r.output.replaceAll(include, '<rendered config>').replaceAll(original, '<rendered config>') || `nginx -t exited ${r.code}`;
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
}

function current(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** The children of `pid` (an nginx master's workers), by scanning /proc. */
function childrenOf(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // `pid (comm) state ppid …`; comm may hold spaces and parentheses: split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.set(Number(name), readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').trim());
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function masterPid(pidFile: string | undefined): number | null {
  if (!pidFile) return null;
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * `nginx -s reload` only signals the master; until it has started new workers and told the old
 * ones to stop accepting, new connections may still meet the old config. With the master's pid
 * file, wait for that: a new worker exists and every old one is gone or "shutting down" (old
 * workers finish their open WebSockets on their own time, but take no new connection).
 */
async function waitReloaded(pid: number, before: Map<number, string>, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = childrenOf(pid);
    const fresh = [...now.keys()].some((p) => !before.has(p));
    const oldAccepting = [...now.entries()].some(([p, title]) => before.has(p) && !title.includes('shutting down'));
    if (fresh && !oldAccepting) return null;
    if (Date.now() > deadline) return `nginx (master pid ${pid}) did not switch to new workers within ${timeoutMs} ms of the reload; see its error log`;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Reloads the running nginx; null when it did, else what went wrong. With `pidFile` (the
 * master's), resolves only once the new config serves every new connection.
 */
export async function reloadNginx(reload: string[], pidFile?: string, timeoutMs = 10_000): Promise<string | null> {
  const pid = masterPid(pidFile);
  const before = pid === null ? new Map<number, string>() : childrenOf(pid);
  const r = await run(reload);
  if (r.code !== 0) return `'${reload.join(' ')}' failed: ${r.output}`;
  return pid === null ? null : waitReloaded(pid, before, timeoutMs);
}

/** Compares, tests, renames and reloads; see the module comment. */
export async function applyNginx(text: string, options: ApplyOptions): Promise<ApplyResult> {
  if (current(options.file) === text) return { state: 'unchanged' };
  if (options.checkOnly) return { state: 'differs' };
  const dir = path.dirname(options.file);
  if (!existsSync(dir)) throw new Error(`${dir} does not exist; create it (boot.sh does) or set HYDRA_NGINX_CONF to a file in an existing folder`);
  // Same folder as the live file, so the rename is atomic (one file system).
  const candidate = path.join(dir, `.${path.basename(options.file)}.${process.pid}.${randomBytes(4).toString('hex')}.new`);
  writeFileSync(candidate, text, { mode: 0o644 });
  try {
    const rejected = await testNginx(options.nginxBin, candidate);
    if (rejected !== null) return { state: 'rejected', error: rejected };
    renameSync(candidate, options.file);
  } finally {
    rmSync(candidate, { force: true });
  }
  return { state: 'applied', reloadError: options.noReload ? null : await reloadNginx(options.reload, options.pidFile) };
}
