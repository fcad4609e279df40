/**
 * `hydra channel consumers | declare | undeclare`, run as an operator would (the built bin/hydra)
 * against the test Redis under a key prefix of its own: declared groups are listed beside the
 * existing ones, a declared group not started is shown holding the entries, and undeclaring it
 * lets retention trim again.
 */
import t from 'tap';
import { Channel, createRedisTransport } from '../../channels/index.js';
import { testRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { hydra } from '../scheduler/schedulerCli.js';

t.test('declare, list and undeclare the consumers of a channel', async (t) => {
  const { redis, prefix, url } = await testRedis(t);
  const transport = createRedisTransport({ url, keyPrefix: prefix });
  t.teardown(() => transport.close());
  const channel = new Channel(transport, 'packets.raw', { retentionIntervalMs: 0 });
  const cli = (...args: string[]) => hydra({ REDIS_URL: url, HYDRA_KEY_PREFIX: prefix }, 'channel', ...args);

  const declared = await cli('declare', 'packets.raw', '--group', 'parse', '--group', 'audit', '--json');
  t.equal(declared.code, 0, declared.stderr);
  t.same(JSON.parse(declared.stdout), { channel: 'packets.raw', declared: ['audit', 'parse'] });
  t.same((await redis.smembers(`${prefix}packets.raw:groups`)).sort(), ['audit', 'parse'], 'kept in the set next to the stream');

  await channel.publishMany(Array.from({ length: 4 }, (_, n) => ({ type: 'test.item', v: 1, body: { n } })));
  const parse = channel.consume({ group: 'parse', consumer: 'parse#1', blockMs: 50 }, () => undefined);
  await waitFor('parse read all', () => parse.stats.acked === 4);
  await parse.stop();

  const listed = await cli('consumers', 'packets.raw');
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout, /audit\s+yes\s+no \(keeps every entry\)\s+4\s+0/, 'audit: declared, not there, holds all 4');
  t.match(listed.stdout, /parse\s+yes\s+yes\s+0\s+0/);
  t.match(listed.stdout, /packets\.raw: 4 entries, backlog 4; audit declared but not started: nothing is trimmed until it starts/);
  t.equal(await channel.trim(), 0, 'audit holds them');

  const undeclared = await cli('undeclare', 'packets.raw', '--group', 'audit');
  t.equal(undeclared.code, 0, undeclared.stderr);
  t.match(undeclared.stdout, /undeclared audit on packets\.raw; declared consumers now: parse/);
  t.equal(await channel.trim(), 4, 'retired: what parse acknowledged is trimmed again');

  for (const [args, said] of [
    [['declare', 'packets.raw'], /--group: none given/],
    [['declare', 'packets.raw', '--group', 'no good'], /--group: 'no good' is not a service name/],
    [['consumers', 'Packets'], /'Packets' is not a channel name/],
  ] as const) {
    const run = await cli(...args);
    t.equal(run.code, 2, `${args.join(' ')}: exit 2`);
    t.match(run.stderr, said);
  }
});
