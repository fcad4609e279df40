/**
 * Refuses request targets that a router and the code behind it could read differently. nginx
 * matches a location on its own normalised path but passes the raw target on; `new URL()` then
 * turns `\` into `/` and resolves `.`/`..`, so `/probe/..\_hydra/functions` passed nginx as a
 * `/probe/` request and reached the runtime's own paths. A target with a backslash, a dot
 * segment, or an encoded dot, slash or backslash is answered 400 before any routing, on every
 * listener, so what is routed is exactly what was sent.
 */

/** Why the target is refused, or null when it is a plain origin-form path. */
export function refusedTarget(target: string | undefined): string | null {
  if (target === undefined || target === '') return 'the request has no target';
  // Origin-form only: an absolute-form target (`GET http://host/x`) would be routed on its own path.
  if (!target.startsWith('/')) return `the request target ${quote(target)} is not a path starting with '/'`;
  const query = target.indexOf('?');
  const path = query === -1 ? target : target.slice(0, query);
  if (path.includes('\\')) return `the request path ${quote(path)} holds a backslash`;
  if (/%(5c|2f|2e)/i.test(path)) return `the request path ${quote(path)} holds an encoded '\\', '/' or '.' (%5C, %2F, %2E)`;
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) return `the request path ${quote(path)} holds a '.' or '..' segment`;
  return null;
}

/** The path as sent, cut short: it goes into an error body and a log line. */
function quote(text: string): string {
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}
