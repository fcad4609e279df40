/**
 * The manifest's routes as a table: which route a method and a path (below the mount) reach,
 * with the values of its `:name` segments; or, when none does, whether the path is known with
 * other methods (405 with `Allow`) or not at all (404).
 */
import { HttpError } from './httpError.js';
import type { HttpRoute } from './serviceTypes.js';

export type RouteLookup = { route: HttpRoute; params: Record<string, string> } | { allow: string[] } | null;

export class RouteTable {
  private readonly compiled: Array<{ route: HttpRoute; segments: string[] }>;

  constructor(routes: readonly HttpRoute[]) {
    this.compiled = routes.map((route) => ({ route, segments: splitPath(route.path) }));
  }

  /** The route, or `{ allow }` when only other methods serve the path, or null when none does. */
  find(method: string, path: string): RouteLookup {
    const segments = splitPath(path);
    const onPath = this.compiled.map((c) => ({ route: c.route, params: match(c.segments, segments) })).filter((m) => m.params !== null);
    const hit = onPath.find((m) => m.route.method === method);
    if (hit) return { route: hit.route, params: hit.params! };
    return onPath.length === 0 ? null : { allow: [...new Set(onPath.map((m) => m.route.method))] };
  }
}

function splitPath(path: string): string[] {
  return path === '/' ? [] : path.slice(1).split('/');
}

/** The params when `actual` fits the route's segments, else null. */
function match(route: string[], actual: string[]): Record<string, string> | null {
  if (route.length !== actual.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < route.length; i++) {
    const want = route[i]!;
    const got = actual[i]!;
    if (want.startsWith(':')) {
      try {
        params[want.slice(1)] = decodeURIComponent(got);
      } catch {
        throw new HttpError(400, `path segment '${got}' is not valid percent-encoding`);
      }
    } else if (want !== got) return null;
  }
  return params;
}
