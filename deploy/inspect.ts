/**
 * The receiver's side of the release check: runs inspectChild.ts in a child `node` process
 * inside the release (its output relayed to the pusher), reads the result and turns problems
 * into one refusal that names every bad service and type.
 */
import { fileURLToPath } from 'node:url';
import { DeployError } from './errors.js';
import type { Progress } from './progress.js';
import { failureText, runStreamed } from './runStreamed.js';

export interface InspectedService {
  /** The catalog id: the service's name in specs and placements. */
  id: string;
  /** The module, relative to the app root. */
  module: string;
  /** The catalog entry as written (part of the service's hash: its settings change how it runs). */
  entry: unknown;
  name: string;
  version: string;
  consumes: Record<string, string[]>;
  produces: Record<string, string[]>;
  /** The manifest's upcaster steps (without their converters). */
  upcasters: Array<{ type: string; from: number; to: number }>;
}

export interface InspectResult {
  services: InspectedService[];
  problems: string[];
}

export const INSPECT_TIMEOUT_MS = 60_000;

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const ENTRY = fileURLToPath(new URL(FROM_SOURCE ? './inspectChild.ts' : './inspectChild.js', import.meta.url));

export async function inspectRelease(dir: string, appRoot: string, env: Record<string, string>, progress: Progress): Promise<InspectedService[]> {
  const args = [...(FROM_SOURCE ? ['--import', 'tsx'] : []), ENTRY, appRoot];
  const r = await runStreamed(process.execPath, args, { cwd: dir, env, label: 'check', progress, timeoutMs: INSPECT_TIMEOUT_MS, fd3: true });
  let result: InspectResult;
  try {
    result = JSON.parse(r.fd3) as InspectResult;
  } catch {
    throw new DeployError('validate', `${failureText('the manifest check', r, INSPECT_TIMEOUT_MS)} without a result; a service module may hang or exit when imported`);
  }
  if (result.problems.length > 0) throw new DeployError('validate', result.problems.join('; '), result.problems);
  if (result.services.length === 0) throw new DeployError('validate', 'services/topology.json names no services; a release needs at least one');
  return result.services;
}
