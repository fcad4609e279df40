/**
 * `hydra simulate`: sends a simulated fleet's packets to a node's ingest endpoint and says what
 * came of them. Creates the fleet file when there is none (the node must read the same file, as
 * HYDRA_FLEET), prints progress every second and a one-line summary. Exit 0 when ingest accepted
 * frames, 1 when it is unreachable or accepted none, 2 for a bad option.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { EXIT_OK, UsageError, parseCommandArgs, type Command } from '../../core/cli.js';
import { fleetFileFromEnv } from '../serviceEnv.js';
import type { Fleet } from '../messages.js';
import { loadFleet, writeFleet } from '../packet/fleet.js';
import { makeFleet, Simulator, type RunStats } from './simulator.js';

const USAGE = 'hydra simulate --sites N --rate R --duration S [--blast] [--url https://127.0.0.1] [--fleet path] [--units U] [--detonators D] [--insecure] [--json]';

/** 2025-01-01T00:00:00Z: sequence numbers and blast ids count from it, see below. */
const EPOCH = Date.UTC(2025, 0, 1);

const simulate: Command = {
  path: ['simulate'],
  summary: 'send simulated firing-unit packets (status traffic, blasts) to a node',
  usage: USAGE,
  async run(args) {
    const o = options(args);
    if (o === null) {
      process.stdout.write(`usage: ${USAGE}\n`);
      return EXIT_OK;
    }
    const say = (line: string): boolean => (o.json ? process.stderr : process.stdout).write(`${line}\n`);
    const fleet = fleetFor(o, say);
    const sim = new Simulator({
      fleet,
      // A node keeps the highest seq per item across runs, so a new run must start above the
      // last one: deciseconds since 2025 do, unless a device sent more than 10 frames/s for
      // the whole of the previous run and this one starts right after it (uint32 lasts to 2038).
      seqStart: Math.floor((Date.now() - EPOCH) / 100),
      blastIdStart: Math.floor((Date.now() - EPOCH) / 1000),
    });
    const units = fleet.sites.reduce((n, s) => n + s.devices.length, 0);
    if (!o.json) say(`simulating ${fleet.sites.length} site(s), ${units} firing unit(s) → ${o.url}/ingest/packets at ${o.rate} frames/s for ${o.duration} s${o.blast ? `, ${fleet.sites.length} blast(s)` : ''}`);
    const abort = new AbortController();
    const onSigint = (): void => (abort.signal.aborted ? process.exit(130) : abort.abort());
    process.on('SIGINT', onSigint);
    let stats: RunStats;
    try {
      stats = await sim.run({
        url: o.url,
        rate: o.rate,
        durationMs: o.duration * 1000,
        blasts: o.blast ? fleet.sites.length : 0,
        insecure: o.insecure,
        signal: abort.signal,
        ...(o.json ? {} : { onProgress: (p) => say(`${(p.elapsedMs / 1000).toFixed(0).padStart(4)}s  sent ${p.sent}  accepted ${p.accepted}  rejected ${p.rejected}  queued ${p.queued}  ${Math.round(p.rate)} frames/s`) }),
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (!o.insecure && /CERT|certificate/.test(message)) throw new Error(`${message}; pass --insecure to accept the node's self-signed certificate`);
      throw err;
    } finally {
      process.off('SIGINT', onSigint);
    }
    const blasts = sim.expectedBlasts();
    if (o.json) process.stdout.write(`${JSON.stringify({ url: o.url, fleet: o.fleet, ...stats, expectedBlasts: blasts }, null, 2)}\n`);
    else say(summary(stats, blasts.length));
    if (stats.sent > 0 && stats.accepted === 0) {
      throw new Error(`ingest accepted none of ${stats.sent} frames${topReasons(stats) ? ` (${topReasons(stats)})` : stats.lastFailure ? ` (${stats.lastFailure})` : ''}`);
    }
    return EXIT_OK;
  },
};

export const simulateCommands: Command[] = [simulate];

interface Options {
  sites: number | null;
  rate: number;
  duration: number;
  blast: boolean;
  url: string;
  fleet: string;
  units: number | null;
  detonators: number | null;
  insecure: boolean;
  json: boolean;
}

/** Strict parsing; null for --help. */
function options(args: string[]): Options | null {
  const values = parseCommandArgs(args, {
    sites: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    blast: { type: 'boolean' },
    url: { type: 'string' },
    fleet: { type: 'string' },
    units: { type: 'string' },
    detonators: { type: 'string' },
    insecure: { type: 'boolean' },
  }).values;
  if (values.help) return null;
  const url = (values.url as string | undefined) ?? 'https://127.0.0.1';
  if (!/^https?:\/\/[^/]/.test(url) || !URL.canParse(url)) throw new UsageError(`--url: '${url}' is not an http:// or https:// URL`);
  const fleet = (values.fleet as string | undefined) ?? fleetFileFromEnv(process.env);
  return {
    sites: values.sites === undefined ? null : integer('sites', values.sites, 1, 100_000),
    rate: number('rate', values.rate ?? '100'),
    duration: number('duration', values.duration ?? '10'),
    blast: Boolean(values.blast),
    url: url.replace(/\/+$/, ''),
    fleet: path.resolve(fleet),
    units: values.units === undefined ? null : integer('units', values.units, 1, 999),
    detonators: values.detonators === undefined ? null : integer('detonators', values.detonators, 1, 1000),
    insecure: Boolean(values.insecure),
    json: Boolean(values.json),
  };
}

function integer(name: string, value: unknown, min: number, max: number): number {
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`--${name}: expected an integer in ${min}..${max}, got '${String(value)}'`);
  return n;
}

function number(name: string, value: unknown): number {
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`--${name}: expected a positive number, got '${String(value)}'`);
  return n;
}

/** The fleet file's first `--sites` sites, or a new fleet file when there is none. */
function fleetFor(o: Options, say: (line: string) => void): Fleet {
  if (!existsSync(o.fleet)) {
    const shape = { sites: o.sites ?? 1, unitsPerSite: o.units ?? 4, detonatorsPerUnit: o.detonators ?? 20 };
    const fleet = makeFleet(shape);
    writeFleet(o.fleet, fleet);
    say(`wrote a new fleet file ${o.fleet} (${shape.sites} site(s) × ${shape.unitsPerSite} unit(s) × ${shape.detonatorsPerUnit} detonators); the node must read the same file (HYDRA_FLEET)`);
    return fleet;
  }
  const fleet = loadFleet(o.fleet);
  if (o.units !== null || o.detonators !== null) say(`note: --units and --detonators shape a new fleet file only; using ${o.fleet} as it is`);
  if (o.sites !== null && o.sites > fleet.sites.length) throw new Error(`fleet file ${o.fleet} has ${fleet.sites.length} site(s); --sites ${o.sites} asks for more (pass another --fleet to create a bigger one)`);
  const sites = fleet.sites.slice(0, o.sites ?? fleet.sites.length).filter((s) => s.devices.length > 0);
  if (sites.length === 0) throw new Error(`fleet file ${o.fleet} has no devices to simulate`);
  return { sites };
}

function summary(s: RunStats, blasts: number): string {
  const reasons = topReasons(s);
  return [
    `sent ${s.sent} frames in ${s.requests} requests over ${(s.elapsedMs / 1000).toFixed(1)} s: accepted ${s.accepted}, rejected ${s.rejected}${reasons ? ` (${reasons})` : ''}`,
    s.failed > 0 ? `, unanswered ${s.failed} (${s.lastFailure})` : '',
    s.unsent > 0 ? `, never sent ${s.unsent}` : '',
    `; ${Math.round(s.rate)} frames/s; ${blasts} blast(s) acknowledged`,
  ].join('');
}

function topReasons(s: RunStats): string {
  return Object.entries(s.reasons)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([why, n]) => `${n} × ${why}`)
    .join('; ');
}
