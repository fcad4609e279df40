/**
 * The nginx config of a node as a pure function: the services running here (mount point and
 * instance ports) plus the TLS files and the admin address in, the text of the http-level include
 * out. The text comes from the plain templates in nginx/templates/; nothing here touches the
 * disk except loading those templates once. Same input, same text (services and instances are
 * sorted), so a caller can compare renders to decide whether nginx needs a reload.
 */
import { readFileSync } from 'node:fs';
import { fill } from '../core/fill.js';

export interface Upstream {
  host: string;
  port: number;
}

export interface NginxService {
  /** Where the service's routes live, e.g. `/ingest`, `/reports` (from its manifest, via the tree). */
  mount: string;
  /** The child ids serving it (shown in a comment), e.g. `ingest#1`. */
  instances: string[];
  upstreams: Upstream[];
}

export interface NginxInput {
  nodeId: string;
  /** `server_name`: the node's DNS name; `_` matches any. */
  serverName: string;
  httpsPort: number;
  httpPort: number;
  /** Also listen on IPv6 (only where the kernel has it: nginx fails to bind `[::]` otherwise). */
  ipv6: boolean;
  /** nginx ≥ 1.25.1 wants `http2 on;`; older ones `listen … ssl http2`. */
  http2: 'listen' | 'directive';
  certificate: string;
  certificateKey: string;
  admin: Upstream;
  /** Addresses allowed to reach /admin/ and /metrics (nginx `allow` values). */
  adminAllow: string[];
  services: NginxService[];
  /** `client_max_body_size`; the services' own limit is 1 MiB. */
  maxBodySize?: string;
  /** Read/send timeout of proxied streams (WebSocket, SSE). */
  streamTimeout?: string;
  /**
   * nginx's `worker_connections` (boot.sh sets 4096): viewers together may hold 3/8 of them (a
   * proxied request takes two), the rest stays for devices, /healthz and the admin API.
   */
  workerConnections?: number;
  /** Mounts devices post to, limited in their own zone so viewers cannot starve them (default `/ingest`). */
  deviceMounts?: string[];
  /** Concurrent requests of one client address on viewer mounts (default 64). */
  requestsPerClient?: number;
  /** Concurrent requests of one client address on device mounts and /healthz (default 128: many devices may share a gateway). */
  requestsPerDevice?: number;
  /** `http2_max_concurrent_streams` (default 32; nginx's own 128 let two connections hold 256 streams). */
  streamsPerConnection?: number;
}

export const DEFAULT_WORKER_CONNECTIONS = 4096;

export class RenderError extends Error {
  override readonly name = 'RenderError';
  constructor(field: string, value: unknown, expected: string) {
    super(`${field}: ${JSON.stringify(value) ?? String(value)} is invalid; expected ${expected}`);
  }
}

export interface NginxTemplates {
  main: string;
  upstream: string;
  location: string;
  unavailable: string;
}

const load = (name: string) => readFileSync(new URL(`./templates/${name}`, import.meta.url), 'utf8');

/** The templates shipped in nginx/templates/ (copied beside the compiled module by the build). */
export const TEMPLATES: NginxTemplates = { main: load('hydra.conf'), upstream: load('upstream.conf'), location: load('location.conf'), unavailable: load('unavailable.conf') };

// ---- validation: every value ends up inside nginx syntax, so none may carry ; { } quotes or spaces

const MOUNT = /^(\/[a-z0-9_-]+)+$/;
const HOST = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+|[0-9a-fA-F:]+)$/;
const SERVER_NAME = /^(_|\*?[A-Za-z0-9.-]+)$/;
const PATH = /^\/[^\s;{}'"\\]*$/;
const SIZE = /^\d+[kmg]?$/;
const TIME = /^\d+(ms|s|m|h)?$/;
const ALLOW = /^(all|[0-9a-fA-F.:]+(\/\d{1,3})?|unix:)$/;

function check(ok: boolean, field: string, value: unknown, expected: string): void {
  if (!ok) throw new RenderError(field, value, expected);
}

function port(field: string, p: unknown): void {
  check(Number.isInteger(p) && (p as number) > 0 && (p as number) <= 65535, field, p, 'a port from 1 to 65535');
}

function validate(input: NginxInput): void {
  check(/^[a-z0-9][a-z0-9-]{0,62}$/.test(input.nodeId), 'nodeId', input.nodeId, 'a node id ([a-z0-9-])');
  for (const name of input.serverName.split(' ')) check(SERVER_NAME.test(name), 'serverName', input.serverName, "DNS names separated by spaces, or '_'");
  port('httpsPort', input.httpsPort);
  port('httpPort', input.httpPort);
  check(input.httpPort !== input.httpsPort, 'httpPort', input.httpPort, `a port other than httpsPort (${input.httpsPort})`);
  check(input.http2 === 'listen' || input.http2 === 'directive', 'http2', input.http2, "'listen' or 'directive'");
  check(PATH.test(input.certificate), 'certificate', input.certificate, 'an absolute file path without spaces, quotes, ; { }');
  check(PATH.test(input.certificateKey), 'certificateKey', input.certificateKey, 'an absolute file path without spaces, quotes, ; { }');
  check(HOST.test(input.admin.host), 'admin.host', input.admin.host, 'an IP address or host name');
  port('admin.port', input.admin.port);
  check(input.adminAllow.length > 0, 'adminAllow', input.adminAllow, 'at least one address (e.g. 127.0.0.1)');
  input.adminAllow.forEach((a, i) => check(ALLOW.test(a), `adminAllow[${i}]`, a, 'an IP address or CIDR range'));
  if (input.maxBodySize !== undefined) check(SIZE.test(input.maxBodySize), 'maxBodySize', input.maxBodySize, 'an nginx size such as 1m');
  if (input.streamTimeout !== undefined) check(TIME.test(input.streamTimeout), 'streamTimeout', input.streamTimeout, 'an nginx time such as 3600s');
  for (const field of ['workerConnections', 'requestsPerClient', 'requestsPerDevice', 'streamsPerConnection'] as const) {
    const v = input[field];
    if (v !== undefined) check(Number.isInteger(v) && v >= 1 && v <= 1_000_000, field, v, 'an integer from 1 to 1000000');
  }
  if (input.workerConnections !== undefined) check(input.workerConnections >= 64, 'workerConnections', input.workerConnections, 'at least 64');
  (input.deviceMounts ?? []).forEach((m, i) => check(MOUNT.test(m), `deviceMounts[${i}]`, m, 'a path such as /ingest'));
  const mounts = new Set<string>();
  input.services.forEach((s, i) => {
    check(MOUNT.test(s.mount), `services[${i}].mount`, s.mount, 'a path such as /reports');
    check(!s.mount.startsWith('/_'), `services[${i}].mount`, s.mount, "a path not starting with '/_' (paths under /_ are the runtime's own)");
    check(!['/healthz', '/admin', '/metrics'].includes(s.mount), `services[${i}].mount`, s.mount, 'a path other than /healthz, /admin and /metrics (the node admin has them)');
    check(!mounts.has(s.mount), `services[${i}].mount`, s.mount, 'a mount no other service has');
    mounts.add(s.mount);
    s.instances.forEach((id, j) => check(/^[^\s;{}'"\\]+$/.test(id), `services[${i}].instances[${j}]`, id, 'a child id without spaces, quotes, ; { }'));
    s.upstreams.forEach((u, j) => {
      check(HOST.test(u.host), `services[${i}].upstreams[${j}].host`, u.host, 'an IP address or host name');
      port(`services[${i}].upstreams[${j}].port`, u.port);
    });
  });
}

// ---- render ------------------------------------------------------------------------------

/** `hydra_` + the mount's segments, made unique: an nginx upstream name per mount. */
function upstreamNames(mounts: string[]): Map<string, string> {
  const names = new Map<string, string>();
  const taken = new Set<string>(['hydra_admin']);
  for (const mount of mounts) {
    const base = `hydra${mount.replace(/[/-]/g, '_')}`;
    let name = base;
    for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    names.set(mount, name);
  }
  return names;
}

const address = (u: Upstream) => `${u.host.includes(':') && !u.host.startsWith('[') ? `[${u.host}]` : u.host}:${u.port}`;

export function renderNginx(input: NginxInput, templates: NginxTemplates = TEMPLATES): string {
  validate(input);
  const services = [...input.services].sort((a, b) => (a.mount < b.mount ? -1 : a.mount > b.mount ? 1 : 0));
  const names = upstreamNames(services.map((s) => s.mount));
  const devices = new Set(input.deviceMounts ?? ['/ingest']);
  const requestsPerDevice = input.requestsPerDevice ?? 128;
  const workerConnections = input.workerConnections ?? DEFAULT_WORKER_CONNECTIONS;
  let upstreams = '';
  let locations = '';
  for (const s of services) {
    const servers = [...new Map(s.upstreams.map((u) => [address(u), u])).keys()].sort();
    const instances = s.instances.length > 0 ? [...s.instances].sort().join(', ') : '-';
    if (servers.length === 0) {
      locations += fill(templates.unavailable, { mount: s.mount, nodeId: input.nodeId });
      continue;
    }
    const upstream = names.get(s.mount)!;
    // max_fails/fail_timeout: a dead instance is skipped for 10 s instead of failing every request.
    upstreams += fill(templates.upstream, { mount: s.mount, instances, upstream, servers: servers.map((a) => `    server ${a} max_fails=3 fail_timeout=10s;\n`).join('') });
    const zone = devices.has(s.mount) ? `        limit_conn hydra_device ${requestsPerDevice};\n` : '';
    locations += fill(templates.location, { mount: s.mount, instances, upstream, limits: zone });
  }
  const http2Listen = input.http2 === 'listen' ? ' http2' : '';
  const http2Directive = input.http2 === 'directive' ? '    http2 on;\n' : '';
  const httpsListen =
    `    listen ${input.httpsPort} ssl${http2Listen};\n` + (input.ipv6 ? `    listen [::]:${input.httpsPort} ssl${http2Listen};\n` : '') + http2Directive;
  return fill(templates.main, {
    nodeId: input.nodeId,
    adminAddress: address(input.admin),
    upstreams,
    httpPort: String(input.httpPort),
    httpListen6: input.ipv6 ? `    listen [::]:${input.httpPort};\n` : '',
    serverName: input.serverName,
    httpsPortSuffix: input.httpsPort === 443 ? '' : `:${input.httpsPort}`,
    httpsListen,
    certificate: input.certificate,
    certificateKey: input.certificateKey,
    maxBodySize: input.maxBodySize ?? '1m',
    streamTimeout: input.streamTimeout ?? '3600s',
    workerConnections: String(workerConnections),
    streamsPerConnection: String(input.streamsPerConnection ?? 32),
    requestsPerClient: String(input.requestsPerClient ?? 64),
    viewerRequests: String(Math.floor((workerConnections * 3) / 8)),
    requestsPerDevice: String(requestsPerDevice),
    adminAllow: input.adminAllow.map((a) => `        allow ${a};\n`).join(''),
    locations,
  });
}
