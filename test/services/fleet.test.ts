/**
 * The fleet file: strict loading with errors naming the field, atomic writes, and the watcher
 * that picks up a changed file (at most one look per check interval), keeps the last good fleet
 * when a new one is bad, and finds a device by its token.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { Fleet } from '../../services/messages.js';
import { FleetWatcher, loadFleet, validateFleet, writeFleet } from '../../services/packet/fleet.js';
import { sleep, waitFor } from '../helpers/wait.js';

const KEY1 = '0f'.repeat(32);
const KEY2 = 'e1'.repeat(32);
const fleet = (): Fleet => ({
  sites: [
    { id: 1, key: KEY1, devices: [{ id: 1001, token: 'token-1001-secret', detonators: [1, 2, 3] }, { id: 1002, token: 'token-1002-secret' }] },
    { id: 2, key: KEY2, devices: [{ id: 2001, token: 'token-2001-secret' }] },
  ],
});

function dir(t: Test): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'hydra-fleet-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('a valid fleet loads as written', async (t) => {
  const file = path.join(dir(t), 'fleet.json');
  writeFileSync(file, JSON.stringify(fleet()));
  t.same(loadFleet(file), fleet());
});

t.test('each invalid field is named in the error', async (t) => {
  const cases: Array<[string, (f: Record<string, any>) => void, string]> = [
    ['key too short', (f) => (f.sites[1].key = 'abc'), 'sites[1].key: must be 64 hex characters'],
    ['key not hex', (f) => (f.sites[0].key = 'zz'.repeat(32)), 'sites[0].key: must be 64 hex characters'],
    ['sites missing', (f) => delete f.sites, 'sites: must be an array'],
    ['site id negative', (f) => (f.sites[0].id = -1), 'sites[0].id: must be an integer in 0..4294967295 (got -1)'],
    ['site id duplicated', (f) => (f.sites[1].id = 1), 'sites[1].id: 1 is already used by sites[0].id'],
    ['devices not an array', (f) => (f.sites[0].devices = {}), 'sites[0].devices: must be an array'],
    ['device id a string', (f) => (f.sites[0].devices[1].id = '1002'), 'sites[0].devices[1].id: must be an integer in 0..4294967295 (got "1002")'],
    ['device id duplicated in a site', (f) => (f.sites[0].devices[1].id = 1001), 'sites[0].devices[1].id: 1001 is already used by sites[0].devices[0].id'],
    ['token empty', (f) => (f.sites[0].devices[0].token = ''), 'sites[0].devices[0].token: must be 1 to 256 visible ASCII characters (no spaces)'],
    ['token with a space', (f) => (f.sites[0].devices[0].token = 'a b'), 'sites[0].devices[0].token: must be 1 to 256 visible ASCII characters (no spaces)'],
    ['token shared', (f) => (f.sites[1].devices[0].token = 'token-1001-secret'), 'sites[1].devices[0].token: same as sites[0].devices[0].token; every device needs its own token'],
    ['detonators not ids', (f) => (f.sites[0].devices[0].detonators = [1, 2.5]), 'sites[0].devices[0].detonators[1]: must be an integer in 0..4294967295 (got 2.5)'],
    ['detonator duplicated', (f) => (f.sites[0].devices[0].detonators = [1, 2, 1]), 'sites[0].devices[0].detonators[2]: 1 is already used by sites[0].devices[0].detonators[0]'],
    ['too many detonators', (f) => (f.sites[0].devices[0].detonators = Array.from({ length: 1001 }, (_, i) => i)), 'sites[0].devices[0].detonators: has 1001 ids; at most 1000 (one frame\'s records)'],
    ['unknown field', (f) => (f.sites[0].devices[0].detonator = [1]), 'sites[0].devices[0].detonator: unknown field (expected id, token, detonators)'],
  ];
  for (const [name, mutate, message] of cases) {
    const f = fleet();
    mutate(f);
    t.throws(() => validateFleet(f), { name: 'FleetError', message }, name);
  }
  t.throws(() => validateFleet([]), { message: 'must be a JSON object { "sites": [...] }' });
});

t.test('loadFleet names the file: missing, not JSON, invalid', async (t) => {
  const d = dir(t);
  const file = path.join(d, 'fleet.json');
  t.throws(() => loadFleet(file), { message: `fleet file ${file}: does not exist` });
  writeFileSync(file, '{ "sites": [');
  t.throws(() => loadFleet(file), { message: new RegExp(`^fleet file ${file}: is not valid JSON \\(`) });
  writeFileSync(file, JSON.stringify({ sites: [{ id: 1, key: 'x', devices: [] }] }));
  t.throws(() => loadFleet(file), { message: `fleet file ${file}: sites[0].key: must be 64 hex characters` });
});

t.test('writeFleet writes atomically, mode 0600, and refuses an invalid fleet', async (t) => {
  const d = dir(t);
  const file = path.join(d, 'sub', 'fleet.json');
  writeFleet(file, fleet());
  t.same(loadFleet(file), fleet());
  t.equal(statSync(file).mode & 0o777, 0o600, 'it holds secrets');
  const bad = fleet();
  bad.sites[0]!.key = 'nope';
  t.throws(() => writeFleet(file, bad), { message: `fleet file ${file}: sites[0].key: must be 64 hex characters` });
  t.same(loadFleet(file), fleet(), 'the old file is untouched');
  t.same(readdirSync(path.dirname(file)), ['fleet.json'], 'no temporary file left behind');
});

t.test('the watcher answers lookups and re-reads a changed file at most once per interval', async (t) => {
  const file = path.join(dir(t), 'fleet.json');
  writeFleet(file, fleet());
  const w = new FleetWatcher(file, { checkEveryMs: 200 });
  t.equal(w.siteKey(2), KEY2);
  t.equal(w.siteKey(3), undefined);
  t.equal(w.deviceToken(1, 1002), 'token-1002-secret');
  t.equal(w.deviceToken(2, 1002), undefined);
  t.same(w.deviceByToken('token-2001-secret'), { site: 2, device: 2001 });
  t.equal(w.deviceByToken('token-2001-secre'), undefined, 'a prefix is not the token');
  t.equal(w.deviceByToken(''), undefined);
  t.equal(w.loads, 1);

  const next = fleet();
  next.sites[0]!.devices[1]!.token = 'rotated-1002';
  writeFleet(file, next);
  t.equal(w.deviceToken(1, 1002), 'token-1002-secret', 'not looked at again within the interval');
  await waitFor('the rotated token picked up after the interval', () => w.deviceToken(1, 1002) === 'rotated-1002');
  t.equal(w.deviceByToken('token-1002-secret'), undefined, 'the old token no longer works');
  t.equal(w.loads, 2);
  await sleep(250); // past the interval again: an unchanged file must still not be re-read
  w.current();
  t.equal(w.loads, 2, 'an unchanged file is not re-read');
});

t.test('a bad new file keeps the last good fleet and reports why', async (t) => {
  const file = path.join(dir(t), 'fleet.json');
  writeFleet(file, fleet());
  const w = new FleetWatcher(file, { checkEveryMs: 0 });
  t.equal(w.siteKey(1), KEY1);
  writeFileSync(file, JSON.stringify({ sites: [{ id: 1, key: 'short', devices: [] }] }));
  const later = new Date(Date.now() + 5_000);
  utimesSync(file, later, later);
  t.equal(w.siteKey(1), KEY1, 'devices are not locked out by a bad edit');
  t.match(w.lastError?.message, `fleet file ${file}: sites[0].key: must be 64 hex characters`);
  writeFleet(file, { sites: [{ id: 1, key: KEY2, devices: [] }] });
  t.equal(w.siteKey(1), KEY2);
  t.equal(w.lastError, null);
});

t.test('a missing file is an empty fleet until it appears; a bad first file throws', async (t) => {
  const file = path.join(dir(t), 'missing.json');
  const w = new FleetWatcher(file, { checkEveryMs: 0 });
  t.same(w.current(), { sites: [] });
  t.match(w.lastError?.message, `fleet file ${file}: does not exist`);
  t.equal(w.deviceByToken('anything'), undefined);
  writeFleet(file, { sites: [{ id: 1, key: KEY2, devices: [] }] });
  t.equal(w.siteKey(1), KEY2, 'picked up once written');
  t.equal(w.lastError, null);
  const bad = path.join(dir(t), 'bad.json');
  writeFileSync(bad, '{ not json');
  t.throws(() => new FleetWatcher(bad).current(), /fleet file/);
});
