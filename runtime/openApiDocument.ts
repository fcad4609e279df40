/**
 * `GET /_hydra/openapi.json`: the OpenAPI 3.1 document of a service instance. A service ships
 * it as `openapi.json` in its module's folder or the folder above (the reference pipeline's
 * is services/openapi.json, for all four services); the instance serves the paths under its
 * own mount plus the runtime's (`/healthz`, `/_hydra/…`), with every component. Read once, at
 * the first request; a service without a document answers 404.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const OPENAPI_PATH = '/_hydra/openapi.json';

/** A parsed OpenAPI document; only `paths` is looked at here. */
export interface OpenApiDocument {
  paths?: Record<string, unknown>;
  [key: string]: unknown;
}

/** The candidates, nearest first: `<module dir>/openapi.json`, then the parent's. */
export function openApiCandidates(moduleFile: string): string[] {
  const dir = path.dirname(moduleFile);
  return [path.join(dir, 'openapi.json'), path.join(path.dirname(dir), 'openapi.json')];
}

/** The document for the instance mounted at `mount`, or null when the service ships none. */
export function loadServiceOpenApi(moduleFile: string, mount: string): OpenApiDocument | null {
  for (const file of openApiCandidates(moduleFile)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    return forMount(JSON.parse(text) as OpenApiDocument, mount);
  }
  return null;
}

/** The document with only the paths this instance serves. */
export function forMount(doc: OpenApiDocument, mount: string): OpenApiDocument {
  const own = (p: string) => p === mount || p.startsWith(`${mount}/`) || p === '/healthz' || p.startsWith('/_hydra/');
  return { ...doc, paths: Object.fromEntries(Object.entries(doc.paths ?? {}).filter(([p]) => own(p))) };
}
