/**
 * The role a route or WebSocket endpoint asks of its caller's API token: what it declares, else
 * `viewer` for reads (GET, HEAD) and `operator` for everything else; null when no API token is
 * asked for (`public`, or `device`, whose handler checks the device's own token).
 */
import type { ApiRole, RouteAuth } from './apiToken.js';

export function neededRole(auth: RouteAuth | undefined, method: string): ApiRole | null {
  const declared = auth ?? (method === 'GET' || method === 'HEAD' ? 'viewer' : 'operator');
  return declared === 'viewer' || declared === 'operator' ? declared : null;
}
