/**
 * runtime/apiAuth.ts while PostgreSQL is unreachable (a real server behind a TCP proxy that is
 * cut): a token the instance has already checked keeps its answer past the cache time, a token
 * it has never seen is 503 (fails closed), and after the outage the table is read again, so a
 * revocation made meanwhile takes effect.
 */
import t from 'tap';
import { AUTH_CACHE_MS, apiAuthFromEnv } from '../../runtime/apiAuth.js';
import { revokeApiToken } from '../../scheduler/store/apiTokens.js';
import { tcpProxy } from '../chaos/tcpProxy.js';
import { bearer, testApiToken } from '../helpers/apiTokens.js';
import { testDatabase } from '../helpers/postgres.js';

t.test('a checked token survives an outage, an unknown one is 503, a revocation lands after it', async (t) => {
  const db = await testDatabase(t);
  const known = await testApiToken(db.url, 'viewer');
  const unseen = await testApiToken(db.url, 'viewer');
  const target = new URL(db.url);
  const proxy = await tcpProxy(t, { host: target.hostname, port: Number(target.port || 5432) });
  const viaProxy = new URL(db.url);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  let clock = Date.now();
  const auth = apiAuthFromEnv({ DATABASE_URL: viaProxy.toString() }, () => clock);
  t.teardown(() => auth.close());

  t.equal(await auth.check(bearer(known.token), 'viewer'), null, 'checked while the database is there');
  proxy.cut();
  clock += AUTH_CACHE_MS + 1_000;
  t.equal(await auth.check(bearer(known.token), 'viewer'), null, 'still valid during the outage, past the cache time');
  t.match(await auth.check(bearer(unseen.token), 'viewer'), { status: 503, reason: /cannot be checked/ }, 'a token never checked: 503');
  t.match(await auth.check(bearer(known.token), 'operator'), { status: 403 }, 'its role still counts');

  await revokeApiToken(db.pool, known.id, 'test');
  proxy.restore();
  clock += AUTH_CACHE_MS + 1_000;
  t.match(await auth.check(bearer(known.token), 'viewer'), { status: 401, reason: /was revoked/ }, 'read again once the database is back');
  t.equal(await auth.check(bearer(unseen.token), 'viewer'), null, 'and the other token checks');
});

t.test('without DATABASE_URL every token is 503, and a missing token 401', async (t) => {
  const auth = apiAuthFromEnv({});
  t.match(await auth.check({}, 'viewer'), { status: 401 });
  t.match(await auth.check(bearer(`hydra_abcdefghijkl_${'A'.repeat(43)}`), 'viewer'), { status: 503, reason: /no DATABASE_URL/ });
});
