/**
 * API tokens on a real service instance (runtime/apiAuth.ts, apiToken.ts, webSocketOrigin.ts),
 * tokens made through the real store on a real PostgreSQL: routes answer 401 with
 * `WWW-Authenticate: Bearer` without a valid token (missing, malformed, unknown, wrong secret,
 * revoked, expired), 403 for a viewer on an operator route; `public` and `device` routes ask for
 * none; the cookie works where headers cannot be set; a revoked token stops within the cache
 * bound; the WebSocket asks for a token and refuses a foreign Origin.
 */
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { AUTH_CACHE_MS } from '../../runtime/apiAuth.js';
import { revokeApiToken } from '../../scheduler/store/apiTokens.js';
import { bearer, testApiToken } from '../helpers/apiTokens.js';
import { testDatabase } from '../helpers/postgres.js';
import { testRedis } from '../helpers/redis.js';
import { superviseService } from '../helpers/supervisedService.js';
import { waitFor } from '../helpers/wait.js';
import { upgradeStatus } from '../helpers/webSocketUpgrade.js';

const GUARDED = fileURLToPath(new URL('./fixtures/guardedService.ts', import.meta.url));

async function start(t: Test) {
  const redis = await testRedis(t);
  const db = await testDatabase(t);
  const viewer = await testApiToken(db.url, 'viewer');
  const operator = await testApiToken(db.url, 'operator');
  const svc = await superviseService(t, {
    id: 'guarded#1',
    module: GUARDED,
    env: { REDIS_URL: redis.url, HYDRA_KEY_PREFIX: redis.prefix, DATABASE_URL: db.url, HYDRA_SERVER_NAME: 'node1.example.net *.edge.example.net' },
    logsVar: 'AUTH_TEST_LOGS',
  });
  return { db, viewer, operator, base: svc.base() };
}

async function answer(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body: (await res.json()) as Record<string, unknown> };
}


t.test('routes ask for an API token of their role', async (t) => {
  const { db, viewer, operator, base } = await start(t);
  const none = await answer(`${base}/guarded/read`);
  t.match(none, { status: 401, challenge: /^Bearer/, body: { error: /API token with role viewer is required/ } }, 'no token: 401 with WWW-Authenticate');
  t.match(await answer(`${base}/guarded/read`, { headers: { authorization: 'Bearer nope' } }), { status: 401, body: { error: /not a Hydra API token/ } }, 'not a token');
  t.match(await answer(`${base}/guarded/read`, { headers: bearer(`${viewer.token.slice(0, -4)}AAAA`) }), { status: 401, body: { error: /unknown or its secret is wrong/ } }, 'a wrong secret');
  t.match(await answer(`${base}/guarded/read`, { headers: bearer(viewer.token) }), { status: 200, body: { read: true } }, 'a viewer reads');
  t.match(await answer(`${base}/guarded/read`, { headers: { cookie: `theme=dark; hydra_token=${viewer.token}` } }), { status: 200 }, 'the hydra_token cookie works too');
  t.match(await answer(`${base}/guarded/write`, { method: 'POST', headers: bearer(viewer.token) }), { status: 403, body: { error: /viewer token; this needs operator/ } }, 'a viewer on an operator route: 403');
  t.match(await answer(`${base}/guarded/write`, { method: 'POST', headers: bearer(operator.token) }), { status: 200, body: { written: true } }, 'an operator writes');
  t.match(await answer(`${base}/guarded/read`, { headers: bearer(operator.token) }), { status: 200 }, 'an operator reads');
  t.match(await answer(`${base}/guarded/viewable`, { method: 'POST', headers: bearer(viewer.token) }), { status: 200 }, 'a POST declared viewer');
  t.match(await answer(`${base}/guarded/write`, { method: 'POST' }), { status: 401 }, 'POST without a token');
  t.match(await answer(`${base}/guarded/open`), { status: 200, body: { open: true } }, 'a public route asks for nothing');
  t.match(await answer(`${base}/guarded/device`, { method: 'POST' }), { status: 202 }, 'a device route leaves its check to the handler');

  const revoked = await testApiToken(db.url, 'operator');
  await revokeApiToken(db.pool, revoked.id, 'test');
  t.match(await answer(`${base}/guarded/read`, { headers: bearer(revoked.token) }), { status: 401, challenge: /^Bearer/, body: { error: new RegExp(`${revoked.id} was revoked`) } }, 'a revoked token: 401');
  const expired = await testApiToken(db.url, 'operator', { expiresAt: new Date(Date.now() - 1_000) });
  t.match(await answer(`${base}/guarded/read`, { headers: bearer(expired.token) }), { status: 401, body: { error: new RegExp(`${expired.id} expired at`) } }, 'an expired token: 401');
  const { rows } = await db.pool.query<{ last_used_at: Date | null }>('SELECT last_used_at FROM api_tokens WHERE id = $1', [viewer.id]);
  t.ok(rows[0]!.last_used_at, 'last use recorded');
});

t.test('a token revoked while in use stops working within the cache bound', async (t) => {
  const { db, viewer, base } = await start(t);
  t.equal((await answer(`${base}/guarded/read`, { headers: bearer(viewer.token) })).status, 200);
  const revokedAt = Date.now();
  await revokeApiToken(db.pool, viewer.id, 'test');
  await waitFor('the revoked token refused', async () => (await answer(`${base}/guarded/read`, { headers: bearer(viewer.token) })).status === 401, AUTH_CACHE_MS + 3_000, 250);
  t.ok(Date.now() - revokedAt <= AUTH_CACHE_MS + 3_000, `refused ${Date.now() - revokedAt} ms after the revocation`);
});

t.test('the WebSocket asks for a viewer token and refuses foreign origins', async (t) => {
  const { viewer, base } = await start(t);
  const url = `${base.replace('http', 'ws')}/guarded/ws`;
  t.equal(await upgradeStatus(url, {}), 401, 'no token: 401');
  t.equal(await upgradeStatus(url, bearer(`${viewer.token.slice(0, -4)}AAAA`)), 401, 'a wrong secret: 401');
  t.equal(await upgradeStatus(url, bearer(viewer.token)), 'open', 'a viewer token, no Origin (not a browser): open');
  t.equal(await upgradeStatus(url, { ...bearer(viewer.token), origin: 'https://evil.example.com' }), 403, 'a foreign Origin: 403');
  t.equal(await upgradeStatus(url, { ...bearer(viewer.token), origin: 'https://node1.example.net.evil.com' }), 403, 'a name that only starts like the node: 403');
  t.equal(await upgradeStatus(url, { ...bearer(viewer.token), origin: 'http://node1.example.net' }), 403, 'the node over plain http: 403');
  t.equal(await upgradeStatus(url, { ...bearer(viewer.token), origin: 'null' }), 403, 'an opaque origin: 403');
  t.equal(await upgradeStatus(url, { ...bearer(viewer.token), origin: 'https://node1.example.net' }), 'open', "the node's own name: open");
  t.equal(await upgradeStatus(url, { ...bearer(viewer.token), origin: 'https://a.edge.example.net' }), 'open', 'a name under a wildcard: open');
  t.equal(await upgradeStatus(url, { cookie: `hydra_token=${viewer.token}`, origin: 'https://node1.example.net' }), 'open', 'the cookie, from the node\'s page');
  t.equal(await upgradeStatus(url, { origin: 'https://evil.example.com' }), 403, 'a foreign Origin is refused before the token is looked at');
});
