/**
 * Generates a fleet for the simulator: sites 1..N, firing units `site·1000 + u`, detonators with
 * distinct serial numbers. Keys and tokens come from node:crypto (the seed only shapes the layout),
 * so a generated fleet file is as good as a real one.
 */
import { randomBytes } from 'node:crypto';
import type { Fleet } from '../messages.js';
import { MAX_DETONATORS } from '../packet/fleet.js';
import { seededRandom } from './random.js';

export interface MakeFleetOptions {
  sites: number;
  unitsPerSite: number;
  detonatorsPerUnit: number;
  /** Shapes detonator serial numbers; default random. */
  seed?: number;
}

export const MAX_UNITS_PER_SITE = 999;

export function makeFleet({ sites, unitsPerSite, detonatorsPerUnit, seed }: MakeFleetOptions): Fleet {
  count('sites', sites, 1, 100_000);
  // Unit ids are site·1000 + u, so a site has at most 999 units.
  count('unitsPerSite', unitsPerSite, 1, MAX_UNITS_PER_SITE);
  count('detonatorsPerUnit', detonatorsPerUnit, 1, MAX_DETONATORS);
  const rng = seededRandom(seed ?? randomBytes(4).readUInt32BE(0));
  const fleet: Fleet = { sites: [] };
  for (let s = 1; s <= sites; s++) {
    const devices = [];
    for (let u = 1; u <= unitsPerSite; u++) {
      // Serials from a random base, spaced by a random step: distinct and sorted without a set.
      let serial = rng.int(1_000_000, 9_000_000);
      const detonators: number[] = [];
      for (let d = 0; d < detonatorsPerUnit; d++) detonators.push((serial += rng.int(1, 50)));
      devices.push({ id: s * 1000 + u, token: randomBytes(24).toString('base64url'), detonators });
    }
    fleet.sites.push({ id: s, key: randomBytes(32).toString('hex'), devices });
  }
  return fleet;
}

function count(field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${field}: ${value} is not an integer in ${min}..${max}`);
}
