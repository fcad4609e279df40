/**
 * The routes data file: what the node (running as the unprivileged `hydra` user) hands to the
 * root-owned nginx helper. It holds data only (node id, admin address, mounts and ports): no
 * path, no directive, nothing nginx would act on. The helper trusts none of it: `parseRoutes`
 * checks the shape here and the renderer's validation checks every value again.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { NginxService, Upstream } from './renderNginx.js';

export interface NginxRoutes {
  nodeId: string;
  admin: Upstream;
  services: NginxService[];
}

/** The largest data file the helper reads (a node has tens of services, not thousands). */
export const ROUTES_MAX_BYTES = 1024 * 1024;

export class RoutesError extends Error {
  override readonly name = 'RoutesError';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function keys(where: string, v: Record<string, unknown>, allowed: string[]): void {
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw new RoutesError(`${where}: unknown field '${k.slice(0, 40)}'; expected only ${allowed.join(', ')}`);
}

function upstream(where: string, v: unknown): Upstream {
  if (!isObject(v)) throw new RoutesError(`${where}: expected an object {host, port}`);
  keys(where, v, ['host', 'port']);
  if (typeof v.host !== 'string' || typeof v.port !== 'number') throw new RoutesError(`${where}: expected host (a string) and port (a number)`);
  return { host: v.host, port: v.port };
}

/** The routes from the data file's text; the values themselves are the renderer's to validate. */
export function parseRoutes(text: string): NginxRoutes {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // The text is not echoed: a root process must not print what a link may have pointed it at.
    throw new RoutesError('the routes file is not valid JSON; the node rewrites it on its next change (hydra nginx render)');
  }
  if (!isObject(data)) throw new RoutesError('the routes file must hold an object {nodeId, admin, services}');
  keys('routes', data, ['nodeId', 'admin', 'services']);
  if (typeof data.nodeId !== 'string') throw new RoutesError('routes.nodeId: expected a string');
  if (!Array.isArray(data.services)) throw new RoutesError('routes.services: expected an array');
  const services = data.services.map((s: unknown, i): NginxService => {
    const where = `routes.services[${i}]`;
    if (!isObject(s)) throw new RoutesError(`${where}: expected an object {mount, instances, upstreams}`);
    keys(where, s, ['mount', 'instances', 'upstreams']);
    if (typeof s.mount !== 'string') throw new RoutesError(`${where}.mount: expected a string`);
    if (!Array.isArray(s.instances) || !s.instances.every((x) => typeof x === 'string')) throw new RoutesError(`${where}.instances: expected an array of strings`);
    if (!Array.isArray(s.upstreams)) throw new RoutesError(`${where}.upstreams: expected an array`);
    return { mount: s.mount, instances: s.instances as string[], upstreams: s.upstreams.map((u, j) => upstream(`${where}.upstreams[${j}]`, u)) };
  });
  return { nodeId: data.nodeId, admin: upstream('routes.admin', data.admin), services };
}

/** The data file's text for these routes (stable: the node compares texts to skip a call). */
export const routesText = (routes: NginxRoutes): string => `${JSON.stringify({ nodeId: routes.nodeId, admin: routes.admin, services: routes.services }, null, 2)}\n`;

/** Writes the data file atomically (temp file + rename), creating its folder. */
export function writeRoutes(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const temp = `${file}.${process.pid}.new`;
  writeFileSync(temp, text, { mode: 0o644 });
  renameSync(temp, file);
}

/**
 * Reads the data file as the root helper must: never through a symbolic link (the folder
 * belongs to hydra), only a regular file, at most ROUTES_MAX_BYTES. null when it does not exist.
 */
export function readRoutesFile(file: string): string | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw new RoutesError(`${file} is a symbolic link; the helper reads only a regular file the node wrote`);
    throw new RoutesError(`cannot open ${file}: ${code ?? String(err)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new RoutesError(`${file} is not a regular file`);
    if (st.size > ROUTES_MAX_BYTES) throw new RoutesError(`${file} holds ${st.size} bytes; at most ${ROUTES_MAX_BYTES} are read`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
