/**
 * Redis specifics of replaying dead letters (the contract itself: contract/deadLetters.test.ts):
 * the script runs by EVALSHA and falls back to EVAL when Redis has lost it; the script sent a
 * second time (what ioredis does when the first reply was lost in a reconnect) publishes
 * nothing; a dead letter not written by a consumer is listed, and refused by replay.
 */
import t from 'tap';
import { Channel, ChannelError, createRedisTransport } from '../../channels/index.js';
import { REPLAY_DEAD_LETTER } from '../../channels/redis/replayDeadLetter.js';
import { runScript } from '../../channels/redis/runScript.js';
import { testRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

async function setup(t: Parameters<typeof testRedis>[0]) {
  const r = await testRedis(t);
  const transport = createRedisTransport({ url: r.url, keyPrefix: r.prefix });
  t.teardown(() => transport.close());
  const channel = new Channel(transport, 'dl', { retentionIntervalMs: 0 });
  await channel.publish({ type: 'test.item', v: 1, body: { n: 1 } });
  const consumer = channel.consume({ group: 'g', consumer: 'c', blockMs: 20 }, (batch, ctx) => {
    for (const m of batch) ctx.deadLetter(m.id, 'rejected');
  });
  await waitFor('dead-lettered', async () => (await channel.deadLetterCount()) === 1);
  await consumer.stop();
  const [dead] = await channel.deadLetters();
  return { ...r, channel, dead: dead! };
}

t.test('replay works after Redis lost its script cache (NOSCRIPT → EVAL)', async (t) => {
  const { redis, channel, dead } = await setup(t);
  await redis.script('FLUSH');
  const id = await channel.replayDeadLetter(dead.id);
  t.type(id, 'string');
  t.equal(await channel.deadLetterCount(), 0);
  t.equal(await channel.length(), 2);
});

t.test('the replay script sent twice (a resend after a lost reply) appends once', async (t) => {
  const { redis, prefix, channel, dead } = await setup(t);
  const args = [dead.id, ...Object.entries(dead.fields).flat()];
  const keys = [`${prefix}dl:dead`, `${prefix}dl`];
  const first = await runScript(redis, REPLAY_DEAD_LETTER, keys, args);
  const second = await runScript(redis, REPLAY_DEAD_LETTER, keys, args);
  t.match(first, /^\d+-\d+$/, 'the first run appended');
  t.equal(second, null, 'the second found the dead letter gone and appended nothing');
  t.equal(await channel.length(), 2, 'one entry published');
  const [entry] = (await redis.xrange(`${prefix}dl`, String(first), String(first))) as Array<[string, string[]]>;
  t.same(entry?.[1], Object.entries(dead.fields).flat(), 'fields in their original order');
});

t.test('a dead letter not written by a consumer is listed without fields and refused by replay', async (t) => {
  const { redis, prefix, channel } = await setup(t);
  const id = await redis.xadd(`${prefix}dl:dead`, '*', 'originalId', '1-0', 'error', 'written by hand', 'fields', 'not json');
  const listed = (await channel.deadLetters()).find((d) => d.id === id);
  t.match(listed, { originalId: '1-0', error: 'written by hand', fields: {}, deliveries: 0 });
  const err = await channel.replayDeadLetter(id!).then(() => null, (e: unknown) => e);
  t.ok(err instanceof ChannelError);
  t.match((err as Error).message, `dead letter ${id} holds no entry fields, so there is nothing to replay; discard it instead`);
  t.equal(await channel.length(), 1, 'nothing published');
  t.equal(await channel.discardDeadLetter(id!), true, 'it can be discarded');
});

t.test('a dead-letter stream is capped (MAXLEN): a poison stream cannot fill Redis', async (t) => {
  const r = await testRedis(t);
  const transport = createRedisTransport({ url: r.url, keyPrefix: r.prefix, deadLetterMaxLen: 3 });
  t.teardown(() => transport.close());
  const channel = new Channel(transport, 'capped', { retentionIntervalMs: 0 });
  const ids: string[] = [];
  for (let n = 1; n <= 5; n++) ids.push(await channel.publish({ type: 'test.item', v: 1, body: { n } }));
  const consumer = channel.consume({ group: 'g', consumer: 'c', blockMs: 20 }, (batch, ctx) => {
    for (const m of batch) ctx.deadLetter(m.id, 'rejected');
  });
  t.teardown(() => consumer.stop());
  await waitFor('the last entry dead-lettered', async () => (await channel.deadLetters()).some((d) => d.originalId === ids[4]));
  await consumer.stop();
  t.equal(await channel.deadLetterCount(), 3, 'only the newest 3 are kept');
  t.same((await channel.deadLetters()).map((d) => d.originalId).sort(), ids.slice(2).sort(), 'the oldest went first');
});
