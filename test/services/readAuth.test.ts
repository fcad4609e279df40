/**
 * Finding 9 of issue 14 on the reference services themselves: live state (`/state/sites/…`,
 * `/state/items`, the SSE stream, the WebSocket) and reports are refused without a viewer API
 * token, with a revoked or an expired one, and served with a valid one.
 */
import t from 'tap';
import { revokeApiToken } from '../../scheduler/store/apiTokens.js';
import { bearer, testApiToken } from '../helpers/apiTokens.js';
import { startReport } from './reportHarness.js';
import { startState } from './stateHarness.js';
import { upgradeStatus } from '../helpers/webSocketUpgrade.js';


async function status(url: string, headers: Record<string, string> = {}): Promise<number> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  ac.abort(); // the SSE stream never ends by itself
  return res.status;
}

t.test('state: every read needs a valid viewer token', async (t) => {
  const h = await startState(t);
  const revoked = await testApiToken(h.db.url, 'viewer');
  await revokeApiToken(h.db.pool, revoked.id, 'test');
  const expired = await testApiToken(h.db.url, 'operator', { expiresAt: new Date(Date.now() - 60_000) });
  for (const path of ['/state/sites/1', '/state/items?site=1', '/state/stream?site=1']) {
    t.equal(await status(`${h.base()}${path}`), 401, `${path} without a token`);
    t.equal(await status(`${h.base()}${path}`, bearer(revoked.token)), 401, `${path} with a revoked token`);
    t.equal(await status(`${h.base()}${path}`, bearer(expired.token)), 401, `${path} with an expired token`);
    t.equal(await status(`${h.base()}${path}`, h.auth), 200, `${path} with a viewer token`);
  }
  t.equal(await upgradeStatus(h.wsUrl(), {}), 401, '/state/ws without a token');
  t.equal(await upgradeStatus(h.wsUrl(), bearer(revoked.token)), 401, '/state/ws with a revoked token');
  t.equal(await upgradeStatus(h.wsUrl(), bearer(expired.token)), 401, '/state/ws with an expired token');
  t.equal(await upgradeStatus(h.wsUrl(), { ...h.auth, origin: 'https://evil.example.com' }), 403, '/state/ws from a foreign page');
  t.equal(await upgradeStatus(h.wsUrl(), h.auth), 'open', '/state/ws with a viewer token');
});

t.test('report: the list and each report need a valid viewer token', async (t) => {
  const h = await startReport(t);
  const revoked = await testApiToken(h.db.url, 'viewer');
  await revokeApiToken(h.db.pool, revoked.id, 'test');
  for (const path of ['/reports', '/reports/1.pdf']) {
    t.equal(await status(`${h.base()}${path}`), 401, `${path} without a token`);
    t.equal(await status(`${h.base()}${path}`, bearer(revoked.token)), 401, `${path} with a revoked token`);
  }
  t.equal(await status(`${h.base()}/reports`, bearer(h.token)), 200, '/reports with a viewer token');
  t.equal(await status(`${h.base()}/reports/1.pdf`, bearer(h.token)), 404, 'an unknown report with a viewer token: 404, not 401');
});
