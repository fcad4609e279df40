/**
 * The service SDK: what a service module imports to describe itself. `defineService` validates
 * the manifest at import time (validateManifest.ts), so a typo fails the start with the field
 * and the bad value (SpecError) instead of surfacing later as a silent no-op. The types live in
 * serviceTypes.ts and are re-exported here, so a service imports everything from this one module.
 *
 * Lean on purpose: every service process loads it at start.
 */
import type { ServiceManifest } from './serviceTypes.js';
import { validateManifest } from './validateManifest.js';

export type * from './serviceTypes.js';
export { HttpError } from './httpError.js';

/**
 * Declares a service: returns the manifest unchanged once every field is valid. The instance
 * state `S` is inferred from what `init` returns, so `handle`, `stop`, `health`, routes, functions
 * and the WebSocket endpoint get it typed, without casts.
 */
export function defineService<S = unknown>(manifest: ServiceManifest<S>): ServiceManifest<S> {
  validateManifest(manifest);
  return manifest;
}
