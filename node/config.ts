/**
 * The node daemon's configuration: read from the environment once, defaults applied, and every
 * bad value rejected at start with a ConfigError naming the variable and what is expected (so a
 * typo in a unit file fails loudly instead of running a half-configured node).
 */
import { isNodeId, NODE_ID_RULE } from '../core/ids.js';
import os from 'node:os';
import path from 'node:path';
import { loadNginxSettings, type NginxSettings } from '../nginx/config.js';
import { ConfigError } from '../core/errors.js';
import { resolveHome } from '../core/home.js';
import type { Level } from '../core/log.js';

export interface NodeConfig {
  /** HYDRA_NODE_ID: lowercase letters, digits and '-'; default the host name made to fit. */
  nodeId: string;
  /** HYDRA_HOME: state of the node (run/node.json, topology). */
  home: string;
  /** $HYDRA_HOME/run: node.json lives here. */
  runDir: string;
  /** HYDRA_TOPOLOGY: the static services of this node; default $HYDRA_HOME/topology.json. */
  topologyFile: string;
  /** Whether HYDRA_TOPOLOGY was set: then a missing file is an error, not an empty node. */
  topologyExplicit: boolean;
  adminHost: string;
  /** 0 = an ephemeral port, chosen at the first bind and kept across admin restarts. */
  adminPort: number;
  /** First port handed to service instances; each instance gets the next one. */
  servicePortBase: number;
  redisUrl: string;
  /** Not needed until the store link lands; null when unset. */
  databaseUrl: string | null;
  keyPrefix: string;
  logLevel: Level;
  /** HYDRA_MODE=scheduled: the node registers with the scheduler at DATABASE_URL and runs what it places. */
  scheduler: SchedulerSettings | null;
  /** HYDRA_NGINX_CONF and friends: the node keeps that nginx config in step with its services. */
  nginx?: NginxSettings | null;
}

/** How a scheduled node takes part in the fleet (docs/scheduler.md). */
export interface SchedulerSettings {
  /** HYDRA_NODE_LABELS: `site=north,rack=r1`. */
  labels: Record<string, string>;
  /** HYDRA_NODE_CAPACITY: `cpu=4,memoryMb=8192`; default this machine's cores and memory. */
  capacity: Record<string, number>;
  /** HYDRA_NODE_ADDRESS: how peers and the CLI reach this node; default its admin URL. */
  address: string | null;
  /** HYDRA_HEARTBEAT_MS (default 2000). */
  heartbeatMs: number;
  /** HYDRA_NODE_TIMEOUT_MS: a node silent this long is down (default 10000). */
  nodeTimeoutMs: number;
  /** HYDRA_LEASE_MS: the leader lease time (default 10000). */
  leaseMs: number;
  /** HYDRA_SCHEDULER_TICK_MS: how often the leader plans (default 2000). */
  tickMs: number;
  /** HYDRA_RECONCILE_MS: how often the node compares its placements with its tree (default 2000). */
  reconcileMs: number;
  /**
   * HYDRA_LISTEN_DATABASE_URL: a direct PostgreSQL URL (not PgBouncer) for LISTEN, so changes
   * are acted on at once; unset: polling only (every HYDRA_RECONCILE_MS / HYDRA_SCHEDULER_TICK_MS).
   */
  listenUrl: string | null;
}

export const DEFAULTS = {
  adminHost: '127.0.0.1',
  adminPort: 7070,
  servicePortBase: 7100,
  redisUrl: 'redis://127.0.0.1:6379',
  keyPrefix: 'hydra:',
  logLevel: 'info' as Level,
} as const;

type Env = Record<string, string | undefined>;

/** An empty variable counts as unset: EnvironmentFile= lines like `HYDRA_ADMIN_PORT=` mean "default". */
function get(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}


/** The host name's first label, lowercased, anything outside [a-z0-9-] made '-'. */
export function defaultNodeId(hostname = os.hostname()): string {
  const id = (hostname.split('.')[0] ?? '').toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '').slice(0, 63);
  return id === '' ? 'node' : id;
}

function nodeId(env: Env): string {
  const v = get(env, 'HYDRA_NODE_ID');
  if (v === undefined) return defaultNodeId();
  if (!isNodeId(v)) throw new ConfigError('HYDRA_NODE_ID', `'${v}' is invalid; expected ${NODE_ID_RULE}`);
  return v;
}

function port(env: Env, name: string, fallback: number, min: number): number {
  const v = get(env, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > 65535) throw new ConfigError(name, `'${v}' is not a port; expected an integer from ${min} to 65535`);
  return n;
}

function url(env: Env, name: string, protocols: string[], example: string): string | undefined {
  const v = get(env, name);
  if (v === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(v);
  } catch {
    throw new ConfigError(name, `'${v}' is not a URL; expected e.g. ${example}`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `'${v}' has scheme '${parsed.protocol}'; expected ${protocols.join(' or ')} (e.g. ${example})`);
  }
  return v;
}

function logLevel(env: Env): Level {
  const v = get(env, 'HYDRA_LOG_LEVEL');
  if (v === undefined) return DEFAULTS.logLevel;
  const levels: Level[] = ['debug', 'info', 'warn', 'error'];
  if (!(levels as string[]).includes(v)) throw new ConfigError('HYDRA_LOG_LEVEL', `'${v}' is not a level; expected one of ${levels.join(', ')}`);
  return v as Level;
}

function adminHost(env: Env): string {
  const v = get(env, 'HYDRA_ADMIN_HOST');
  if (v === undefined) return DEFAULTS.adminHost;
  if (/[\s/]/.test(v)) throw new ConfigError('HYDRA_ADMIN_HOST', `'${v}' is not a host; expected an IP address or host name such as 127.0.0.1`);
  return v;
}

function keyPrefix(env: Env): string {
  const v = get(env, 'HYDRA_KEY_PREFIX');
  if (v === undefined) return DEFAULTS.keyPrefix;
  if (/\s/.test(v)) throw new ConfigError('HYDRA_KEY_PREFIX', `'${v}' contains white space; expected a Redis key prefix such as hydra:`);
  return v;
}

function positive(env: Env, name: string, fallback: number, min = 1): number {
  const v = get(env, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min) throw new ConfigError(name, `'${v}' is invalid; expected a whole number of ms of at least ${min}`);
  return n;
}

/** `k=v,k=v` lists (labels, capacity). */
function pairs(env: Env, name: string, example: string): Record<string, string> | undefined {
  const v = get(env, name);
  if (v === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const part of v.split(',')) {
    const m = /^\s*([A-Za-z0-9][A-Za-z0-9._/-]*)\s*=\s*(\S*)\s*$/.exec(part);
    if (!m) throw new ConfigError(name, `'${part.trim()}' in '${v}' is not key=value; expected e.g. ${example}`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

function schedulerSettings(env: Env, databaseUrl: string | null): SchedulerSettings | null {
  const mode = get(env, 'HYDRA_MODE') ?? 'standalone';
  if (mode !== 'standalone' && mode !== 'scheduled') throw new ConfigError('HYDRA_MODE', `'${mode}' is not a mode; expected standalone or scheduled`);
  if (mode === 'standalone') return null;
  if (databaseUrl === null) throw new ConfigError('DATABASE_URL', 'is not set, and HYDRA_MODE=scheduled needs the scheduler database; expected e.g. postgres://hydra@127.0.0.1:6432/hydra');
  const capacityRaw = pairs(env, 'HYDRA_NODE_CAPACITY', 'cpu=4,memoryMb=8192');
  const capacity: Record<string, number> = { cpu: os.availableParallelism(), memoryMb: Math.floor(os.totalmem() / 2 ** 20) };
  for (const [k, v] of Object.entries(capacityRaw ?? {})) {
    const n = Number(v);
    if (v === '' || !Number.isFinite(n) || n < 0) throw new ConfigError('HYDRA_NODE_CAPACITY', `${k}=${v} is invalid; expected a number of at least 0, e.g. cpu=4,memoryMb=8192`);
    capacity[k] = n;
  }
  const heartbeatMs = positive(env, 'HYDRA_HEARTBEAT_MS', 2_000, 50);
  const nodeTimeoutMs = positive(env, 'HYDRA_NODE_TIMEOUT_MS', 10_000, 100);
  if (nodeTimeoutMs <= heartbeatMs) throw new ConfigError('HYDRA_NODE_TIMEOUT_MS', `${nodeTimeoutMs} is invalid; expected more than HYDRA_HEARTBEAT_MS (${heartbeatMs}), ideally 3-5 heartbeats`);
  return {
    labels: pairs(env, 'HYDRA_NODE_LABELS', 'site=north,rack=r1') ?? {},
    capacity,
    address: url(env, 'HYDRA_NODE_ADDRESS', ['http:', 'https:'], 'https://node1.example.net') ?? null,
    heartbeatMs,
    nodeTimeoutMs,
    leaseMs: positive(env, 'HYDRA_LEASE_MS', 10_000, 100),
    tickMs: positive(env, 'HYDRA_SCHEDULER_TICK_MS', 2_000, 50),
    reconcileMs: positive(env, 'HYDRA_RECONCILE_MS', 2_000, 50),
    listenUrl: url(env, 'HYDRA_LISTEN_DATABASE_URL', ['postgres:', 'postgresql:'], 'postgres://hydra@127.0.0.1:5432/hydra') ?? null,
  };
}

/** Reads and validates every variable; the first bad one throws. */
export function loadNodeConfig(env: Env = process.env): NodeConfig {
  const home = resolveHome(env);
  const topology = get(env, 'HYDRA_TOPOLOGY');
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:'], 'postgres://hydra@127.0.0.1:6432/hydra') ?? null;
  return {
    nodeId: nodeId(env),
    home,
    runDir: path.join(home, 'run'),
    topologyFile: topology === undefined ? path.join(home, 'topology.json') : path.resolve(topology),
    topologyExplicit: topology !== undefined,
    adminHost: adminHost(env),
    adminPort: port(env, 'HYDRA_ADMIN_PORT', DEFAULTS.adminPort, 0),
    servicePortBase: port(env, 'HYDRA_SERVICE_PORT_BASE', DEFAULTS.servicePortBase, 1),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:'], 'redis://127.0.0.1:6379') ?? DEFAULTS.redisUrl,
    databaseUrl,
    keyPrefix: keyPrefix(env),
    logLevel: logLevel(env),
    scheduler: schedulerSettings(env, databaseUrl),
    nginx: loadNginxSettings(env),
  };
}
