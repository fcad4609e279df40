/**
 * The fleet file (docs/packet-format.md, "The fleet file"): site keys and device tokens. Loaded
 * strictly (each failure names the field, e.g. `sites[1].key: must be 64 hex characters`),
 * written atomically (tmp + rename, so a reader never sees half a file), and watched: ingest and
 * parse hold a FleetWatcher and pick up a new fleet without a restart.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Fleet, FleetDevice, FleetSite } from '../messages.js';
import { FleetError } from './errors.js';

export { FleetError } from './errors.js';

/** An arm frame carries every detonator of its unit, and a frame holds at most 1000 records. */
export const MAX_DETONATORS = 1000;

// ---- validate -------------------------------------------------------------------------------

/** A checked copy holding only the documented fields; throws FleetError naming the first bad field. */
export function validateFleet(value: unknown, file: string | null = null): Fleet {
  const fail = (field: string | null, problem: string): never => {
    throw new FleetError(file, field, problem);
  };
  const root = object(value, null, ['sites'], fail);
  if (!Array.isArray(root.sites)) fail('sites', 'must be an array');
  const tokens = new Map<string, string>();
  const siteIds = new Map<number, string>();
  const sites = (root.sites as unknown[]).map((raw, i): FleetSite => {
    const at = `sites[${i}]`;
    const s = object(raw, at, ['id', 'key', 'devices'], fail);
    const id = uint32(s.id, `${at}.id`, fail);
    unique(siteIds, id, `${at}.id`, fail);
    if (typeof s.key !== 'string' || !/^[0-9a-fA-F]{64}$/.test(s.key)) fail(`${at}.key`, 'must be 64 hex characters');
    if (!Array.isArray(s.devices)) fail(`${at}.devices`, 'must be an array');
    const deviceIds = new Map<number, string>();
    const devices = (s.devices as unknown[]).map((rawDevice, j): FleetDevice => {
      const dat = `${at}.devices[${j}]`;
      const d = object(rawDevice, dat, ['id', 'token', 'detonators'], fail);
      const device: FleetDevice = { id: uint32(d.id, `${dat}.id`, fail), token: '' };
      unique(deviceIds, device.id, `${dat}.id`, fail);
      // Visible ASCII only: the token travels in an Authorization header.
      if (typeof d.token !== 'string' || !/^[\x21-\x7e]{1,256}$/.test(d.token)) fail(`${dat}.token`, 'must be 1 to 256 visible ASCII characters (no spaces)');
      device.token = d.token as string;
      const other = tokens.get(device.token);
      if (other !== undefined) fail(`${dat}.token`, `same as ${other}.token; every device needs its own token`);
      tokens.set(device.token, dat);
      if (d.detonators !== undefined) {
        if (!Array.isArray(d.detonators)) fail(`${dat}.detonators`, 'must be an array of detonator ids');
        const list = d.detonators as unknown[];
        if (list.length > MAX_DETONATORS) fail(`${dat}.detonators`, `has ${list.length} ids; at most ${MAX_DETONATORS} (one frame's records)`);
        const seen = new Map<number, string>();
        device.detonators = list.map((det, k) => {
          const n = uint32(det, `${dat}.detonators[${k}]`, fail);
          unique(seen, n, `${dat}.detonators[${k}]`, fail);
          return n;
        });
      }
      return device;
    });
    return { id, key: (s.key as string).toLowerCase(), devices };
  });
  return { sites };
}

type Fail = (field: string | null, problem: string) => never;

function object(value: unknown, field: string | null, known: string[], fail: Fail): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(field, field === null ? 'must be a JSON object { "sites": [...] }' : 'must be an object');
  const record = value as Record<string, unknown>;
  // Strict, like service manifests: a misspelt optional field would otherwise be silently dropped.
  for (const name of Object.keys(record)) if (!known.includes(name)) fail(field === null ? name : `${field}.${name}`, `unknown field (expected ${known.join(', ')})`);
  return record;
}

function uint32(value: unknown, field: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff) fail(field, `must be an integer in 0..4294967295 (got ${JSON.stringify(value)})`);
  return value as number;
}

function unique(seen: Map<number, string>, id: number, field: string, fail: Fail): void {
  const first = seen.get(id);
  if (first !== undefined) fail(field, `${id} is already used by ${first}`);
  seen.set(id, field);
}

// ---- load and write -------------------------------------------------------------------------

export function loadFleet(file: string): Fleet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new FleetError(file, null, e.code === 'ENOENT' ? 'does not exist' : `cannot be read (${e.code ?? e.message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FleetError(file, null, `is not valid JSON (${(err as Error).message})`);
  }
  return validateFleet(value, file);
}

/** Validates, then writes `<file>.<pid>.<rand>.tmp` (mode 0600: it holds secrets), fsyncs, renames. */
export function writeFleet(file: string, fleet: Fleet): void {
  const checked = validateFleet(fleet, file);
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(checked, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

// ---- watch ----------------------------------------------------------------------------------

export interface FleetWatcherOptions {
  /** How often at most `current()` looks at the file's mtime; default 1000 ms. */
  checkEveryMs?: number;
}

interface Loaded {
  fleet: Fleet;
  stamp: string;
  keys: Map<number, string>;
  devices: Map<string, FleetDevice>;
  tokens: Array<{ site: number; device: number; digest: Buffer }>;
}

/**
 * The fleet file as of at most a second ago. A missing file is an empty fleet until it appears;
 * a first load of a bad file throws; a later
 * file that fails to load keeps the previous fleet in use and is reported in `lastError`, so a
 * bad edit cannot lock every device out.
 */
export class FleetWatcher {
  /** Why the latest reload failed; null after a good one. */
  lastError: FleetError | null = null;
  /** How many times the file was (re)loaded. */
  loads = 0;
  private loaded: Loaded | null = null;
  private checkedAt = 0;
  private readonly checkEveryMs: number;

  constructor(
    readonly file: string,
    options: FleetWatcherOptions = {},
  ) {
    this.checkEveryMs = options.checkEveryMs ?? 1000;
  }

  current(): Fleet {
    return this.state().fleet;
  }

  siteKey(site: number): string | undefined {
    return this.state().keys.get(site);
  }

  device(site: number, device: number): FleetDevice | undefined {
    return this.state().devices.get(`${site}/${device}`);
  }

  deviceToken(site: number, device: number): string | undefined {
    return this.device(site, device)?.token;
  }

  /** The device a bearer token belongs to. Compares digests in constant time, and every one of them. */
  deviceByToken(token: string): { site: number; device: number } | undefined {
    const digest = sha256(token);
    let found: { site: number; device: number } | undefined;
    for (const t of this.state().tokens) if (timingSafeEqual(digest, t.digest) && !found) found = { site: t.site, device: t.device };
    return found;
  }

  private state(): Loaded {
    const now = Date.now();
    if (this.loaded && now - this.checkedAt < this.checkEveryMs) return this.loaded;
    this.checkedAt = now;
    try {
      // mtime alone can miss two writes in one tick; a rename also changes the inode.
      const st = statSync(this.file);
      const stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
      if (this.loaded?.stamp === stamp) return this.loaded;
      this.loaded = index(loadFleet(this.file), stamp);
      this.loads += 1;
      this.lastError = null;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const error = err instanceof FleetError ? err : new FleetError(this.file, null, code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(err)})`);
      this.lastError = error;
      // A node provisioned before its fleet: no device is known until the file appears, which
      // is picked up like any change. A file that exists but is bad still fails the first load.
      if (!this.loaded && code === 'ENOENT') this.loaded = index({ sites: [] }, 'missing');
      if (!this.loaded) throw error;
    }
    return this.loaded;
  }
}

function index(fleet: Fleet, stamp: string): Loaded {
  const loaded: Loaded = { fleet, stamp, keys: new Map(), devices: new Map(), tokens: [] };
  for (const site of fleet.sites) {
    loaded.keys.set(site.id, site.key);
    for (const d of site.devices) {
      loaded.devices.set(`${site.id}/${d.id}`, d);
      loaded.tokens.push({ site: site.id, device: d.id, digest: sha256(d.token) });
    }
  }
  return loaded;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
