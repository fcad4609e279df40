/**
 * Which browser pages may open a service's WebSocket: a request with an `Origin` header is
 * accepted only from the node's own names (HYDRA_SERVER_NAME, as nginx serves them, `*.x`
 * matching any name below x), any origin listed in HYDRA_ALLOWED_ORIGINS (comma-separated,
 * `https://console.example.net`), or, when the node has no names (`_` or unset), the same host
 * the request was sent to. A request without `Origin` is not from a browser page, so there is no
 * cross-site page to guard against; its API token still decides (apiAuth.ts).
 */
export type OriginCheck = (origin: string | undefined, host: string | undefined) => boolean;

export function originCheckFromEnv(env: NodeJS.ProcessEnv): OriginCheck {
  const names = (env.HYDRA_SERVER_NAME ?? '').split(/\s+/).filter((n) => n !== '' && n !== '_').map((n) => n.toLowerCase());
  const listed = new Set((env.HYDRA_ALLOWED_ORIGINS ?? '').split(',').map((o) => o.trim().toLowerCase().replace(/\/+$/, '')).filter((o) => o !== ''));
  return (origin, host) => {
    if (origin === undefined) return true;
    const o = origin.trim().toLowerCase();
    if (listed.has(o)) return true;
    let url: URL;
    try {
      url = new URL(o);
    } catch {
      return false;
    }
    if (url.origin !== o) return false;
    if (names.length === 0) return host !== undefined && url.host === host.toLowerCase();
    if (url.protocol !== 'https:') return false;
    return names.some((n) => (n.startsWith('*.') ? url.hostname.endsWith(n.slice(1)) : url.hostname === n));
  };
}
