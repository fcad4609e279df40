/**
 * The release check, run in a child `node` process from inside the release (working directory:
 * the release; argument: its app root), so the release's own modules, dependencies and
 * manifests are what is checked, and whatever a module does when imported stays out of the
 * receiver. For each service the catalog (`services/topology.json`) names, it imports the built
 * module and validates the manifest it exports with this hydra's SDK (the runtime that will run
 * it); then it checks every consumed `type@v` can be produced (consumedTypes.ts). The result, a
 * JSON document, goes to file descriptor 3: stdout and stderr stay free for what the modules print.
 */
import { existsSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseTopology } from '../runtime/topology.js';
import { validateManifest } from '../runtime/validateManifest.js';
import { unproducibleTypes } from './consumedTypes.js';
import type { InspectedService, InspectResult } from './inspect.js';

/** The service entries of a catalog document, nested supervisor groups included (already validated). */
function serviceEntries(raw: unknown): Array<Record<string, unknown>> {
  const list = (raw as { services?: unknown[] }).services ?? [];
  return list.flatMap((e) => {
    const entry = e as Record<string, unknown>;
    return entry.supervisor !== undefined ? serviceEntries(entry.supervisor) : [entry];
  });
}

export async function inspect(appRoot: string): Promise<InspectResult> {
  const catalogFile = path.join(appRoot, 'services', 'topology.json');
  const rel = (file: string) => path.relative(appRoot, file);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(catalogFile, 'utf8'));
    // Structure only: a missing module is reported below, by service.
    parseTopology(raw, { dir: path.dirname(catalogFile), exists: () => true });
  } catch (err) {
    return { services: [], problems: [`services/topology.json is invalid: ${(err as Error).message}`] };
  }
  const services: InspectedService[] = [];
  const problems: string[] = [];
  for (const entry of serviceEntries(raw)) {
    const id = entry.id as string;
    const file = path.resolve(path.dirname(catalogFile), entry.module as string);
    if (!existsSync(file)) {
      problems.push(`service '${id}' has no manifest: ${rel(file)} does not exist in the build (services/topology.json names it); add the module or remove the entry`);
      continue;
    }
    let mod: { default?: unknown; service?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as typeof mod;
    } catch (err) {
      problems.push(`service '${id}': ${rel(file)} does not load: ${(err as Error).message ?? String(err)}`);
      continue;
    }
    const manifest = mod.default ?? mod.service;
    if (manifest === undefined) {
      problems.push(`service '${id}' has no manifest: ${rel(file)} exports neither a default nor 'service' made by defineService({ name, version, … })`);
      continue;
    }
    try {
      validateManifest(manifest);
    } catch (err) {
      problems.push(`service '${id}': the manifest in ${rel(file)} is invalid: ${(err as Error).message}`);
      continue;
    }
    const upcasters = (manifest.upcasters ?? []).map(({ type, from, to }) => ({ type, from, to }));
    services.push({ id, module: rel(file), entry, name: manifest.name, version: manifest.version, consumes: manifest.consumes ?? {}, produces: manifest.produces ?? {}, upcasters });
  }
  // Types are checked only among manifests that loaded: a missing one is already a refusal.
  if (problems.length === 0) problems.push(...unproducibleTypes(services));
  return { services, problems };
}

const appRoot = process.argv[2];
if (appRoot) {
  let result: InspectResult;
  try {
    result = await inspect(path.resolve(appRoot));
  } catch (err) {
    result = { services: [], problems: [`the release check failed: ${(err as Error).message ?? String(err)}`] };
  }
  writeSync(3, JSON.stringify(result));
  // Modules may leave timers or sockets open; the check is over.
  process.exit(0);
}
