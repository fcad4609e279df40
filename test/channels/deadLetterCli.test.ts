/**
 * `hydra channel dead | replay | discard`, run as an operator would (the built bin/hydra: run
 * `npm run build` first) against the local Redis, each test under a key prefix of its own
 * (HYDRA_KEY_PREFIX). Dead letters are made the way a node makes them: a consumer that rejects
 * entries or fails on them until maxDeliveries.
 */
import t, { type Test } from 'tap';
import type { Redis } from 'ioredis';
import { Channel, createRedisTransport, type Envelope, type OutgoingMessage } from '../../channels/index.js';
import { testRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { hydra, lines, type Run } from '../scheduler/schedulerCli.js';

interface Setup {
  redis: Redis;
  prefix: string;
  channel: Channel;
  /** `hydra channel <args>` on this test's keys. */
  cli(...args: string[]): Promise<Run>;
  /** The same with --json, parsed; fails the test on a non-zero exit. */
  json<T = Record<string, unknown>>(...args: string[]): Promise<T>;
  /** Every entry of the channel's stream (id, fields) or of its dead-letter stream. */
  stream(which?: 'channel' | 'dead'): Promise<Array<{ id: string; fields: Record<string, string> }>>;
}

const CHANNEL = 'packets.raw';

async function setup(t: Test): Promise<Setup> {
  const { redis, prefix, url } = await testRedis(t);
  const transport = createRedisTransport({ url, keyPrefix: prefix });
  t.teardown(() => transport.close());
  const channel = new Channel(transport, CHANNEL, { retentionIntervalMs: 0 });
  const cli = (...args: string[]) => hydra({ REDIS_URL: url, HYDRA_KEY_PREFIX: prefix }, 'channel', ...args);
  return {
    redis,
    prefix,
    channel,
    cli,
    async json<T>(...args: string[]): Promise<T> {
      const run = await cli(...args, '--json');
      t.equal(run.code, 0, `hydra channel ${args.join(' ')} --json: ${run.stderr}`);
      return JSON.parse(run.stdout) as T;
    },
    async stream(which = 'channel') {
      const rows = (await redis.xrange(`${prefix}${CHANNEL}${which === 'dead' ? ':dead' : ''}`, '-', '+')) as Array<[string, string[]]>;
      return rows.map(([id, flat]) => ({ id, fields: Object.fromEntries(flat.flatMap((_, i) => (i % 2 === 0 ? [[flat[i]!, flat[i + 1]!]] : []))) as Record<string, string> }));
    },
  };
}

const frame = (n: number, extra: Partial<OutgoingMessage> = {}): OutgoingMessage => ({ type: 'packet.raw', v: 1, key: `dev-${n}`, body: { n }, ...extra });

/** Publishes and lets a consumer of group `parse` reject those `reject` picks; resolves with the dead letters' ids. */
async function makeDeadLetters(s: Setup, messages: OutgoingMessage[], reject: (m: Envelope) => string | null): Promise<string[]> {
  const before = await s.channel.deadLetterCount();
  await s.channel.publishMany(messages);
  const consumer = s.channel.consume({ group: 'parse', consumer: 'parse#1', blockMs: 20 }, (batch, ctx) => {
    for (const m of batch) {
      const reason = reject(m);
      if (reason !== null) ctx.deadLetter(m.id, reason);
    }
  });
  await waitFor('all handled or dead-lettered', () => consumer.stats.handled + consumer.stats.deadLettered === messages.length);
  await consumer.stop();
  return (await s.channel.deadLettersAfter('0-0', 1000)).slice(before).map((d) => d.id);
}

const n = (m: Envelope): number => (m.body as { n: number }).n;

t.test('dead: a table of the dead letters, a summary line, --limit and --json', async (t) => {
  const s = await setup(t);
  const ids = await s.channel.publishMany([frame(1), frame(2)]);
  // An entry no consumer can decode (no version), written past the envelope checks.
  await s.redis.xadd(`${s.prefix}${CHANNEL}`, '*', 'type', 'packet.raw', 'body', '{"n":3}');
  const consumer = s.channel.consume({ group: 'parse', consumer: 'parse#1', blockMs: 20, maxDeliveries: 2, retryDelayMs: 20 }, (batch, ctx) => {
    for (const m of batch) {
      if (n(m) === 1) ctx.deadLetter(m.id, 'authentication failed (wrong key or tampered frame)');
      if (n(m) === 2) throw new Error('decoder bug:\n  item 7 has\tno status');
    }
  });
  await waitFor('three dead letters', async () => (await s.channel.deadLetterCount()) === 3);
  await consumer.stop();
  const dead = await s.stream('dead');
  const byOriginal = new Map(dead.map((d) => [d.fields.originalId, d]));
  const rawId = dead.find((d) => ![ids[0], ids[1]].includes(d.fields.originalId))!;
  const when = (id: string) => `${new Date(Number(id.split('-')[0])).toISOString().slice(0, 19).replace('T', ' ')}Z`;

  const human = await s.cli('dead', CHANNEL);
  t.equal(human.code, 0, human.stderr);
  const expectedRows = dead.map((d) => {
    if (d.fields.originalId === ids[0]) return `${d.id} | ${ids[0]} | packet.raw@1 | 1 | ${when(d.id)} | authentication failed (wrong key or tampered frame)`;
    if (d.fields.originalId === ids[1]) return `${d.id} | ${ids[1]} | packet.raw@1 | 2 | ${when(d.id)} | Error: decoder bug: item 7 has no status`;
    // Errors longer than 100 characters are cut in the table (--json has them whole).
    return `${d.id} | ${rawId.fields.originalId} | packet.raw@? | 1 | ${when(d.id)} | undecodable entry: EnvelopeError: envelope field 'v': is missing; every message needs a schema vers…`;
  });
  t.same(lines(human.stdout), ['DEAD ID | ORIGINAL ID | TYPE | DELIVERIES | WHEN | ERROR', ...expectedRows, '3 dead letters in packets.raw (showing 3)']);

  const limited = await s.cli('dead', CHANNEL, '--limit', '2');
  t.same(lines(limited.stdout), ['DEAD ID | ORIGINAL ID | TYPE | DELIVERIES | WHEN | ERROR', ...expectedRows.slice(1), '3 dead letters in packets.raw (showing 2)'], 'the newest two, oldest first');

  const json = await s.json<{ channel: string; key: string; total: number; showing: number; deadLetters: Array<Record<string, unknown>> }>('dead', CHANNEL);
  t.match(json, { channel: CHANNEL, key: `${s.prefix}${CHANNEL}:dead`, total: 3, showing: 3 });
  t.same(json.deadLetters.map((d) => d.id), dead.map((d) => d.id));
  const first = json.deadLetters.find((d) => d.originalId === ids[0])!;
  t.same(first, {
    id: byOriginal.get(ids[0])!.id,
    originalId: ids[0],
    type: 'packet.raw',
    v: 1,
    group: 'parse',
    consumer: 'parse#1',
    deliveries: 1,
    deadLetteredAt: new Date(Number(byOriginal.get(ids[0])!.id.split('-')[0])).toISOString(),
    error: 'authentication failed (wrong key or tampered frame)',
    fields: JSON.parse(byOriginal.get(ids[0])!.fields.fields!),
  });
  t.match(json.deadLetters.find((d) => d.id === rawId.id), { type: 'packet.raw', v: null, error: /a schema version \(a positive integer\)$/ });
  t.same(json.deadLetters.find((d) => d.id === rawId.id)?.fields, { type: 'packet.raw', body: '{"n":3}' });

  const empty = await s.cli('dead', 'state.changes');
  t.same([empty.code, empty.stdout], [0, '0 dead letters in state.changes (showing 0)\n'], 'a channel without dead letters');
});

t.test('replay --id: each named dead letter back into the channel once, exactly as written; a second run finds them gone', async (t) => {
  const s = await setup(t);
  const deadIds = await makeDeadLetters(s, [frame(1), frame(2, { ts: 1_700_000_000_000 }), frame(3), frame(4)], (m) => (n(m) === 4 ? null : `bad frame ${n(m)}`));
  t.equal(deadIds.length, 3);
  const deadBefore = await s.stream('dead');
  const lengthBefore = (await s.stream()).length;

  const run = await s.cli('replay', CHANNEL, '--id', deadIds[2]!, '--id', deadIds[0]!, '--id', '1-0');
  t.equal(run.code, 0, run.stderr);
  const published = (await s.stream()).slice(lengthBefore);
  t.equal(published.length, 2, 'two entries were published');
  const original = (i: number) => JSON.parse(deadBefore[i]!.fields.fields!) as Record<string, string>;
  t.same(published.map((e) => e.fields), [original(2), original(0)], 'in the order given, each exactly as the dead letter holds it (type, v, ts, key, body)');
  t.same(lines(run.stdout), [
    `replayed ${deadIds[2]} (packet.raw@1, original ${deadBefore[2]!.fields.originalId}, 1 delivery) as ${published[0]!.id}`,
    `replayed ${deadIds[0]} (packet.raw@1, original ${deadBefore[0]!.fields.originalId}, 1 delivery) as ${published[1]!.id}`,
    '1-0: already gone (replayed or discarded before)',
    'replayed 2 of 3 dead letters of packets.raw into the channel; 1 was already gone',
  ]);
  t.same((await s.stream('dead')).map((d) => d.id), [deadIds[1]], 'the one not named is still dead');

  const again = await s.json<{ done: number; alreadyGone: number; requested: number; outcomes: unknown[]; summary: string }>('replay', CHANNEL, '--id', deadIds[2]!, '--id', deadIds[0]!);
  t.match(again, { requested: 2, done: 0, alreadyGone: 2, outcomes: [{ deadId: deadIds[2], status: 'gone' }, { deadId: deadIds[0], status: 'gone' }], summary: 'replayed 0 of 2 dead letters of packets.raw into the channel; 2 were already gone' });
  t.equal((await s.stream()).length, lengthBefore + 2, 'the second run published nothing');

  // The fixed consumer handles the replayed entries, and only them.
  const seen: Envelope[] = [];
  const fixed = s.channel.consume({ group: 'parse', consumer: 'parse#1', blockMs: 20 }, (batch) => {
    seen.push(...batch);
  });
  await waitFor('the replayed entries handled', () => seen.length === 2);
  await fixed.stop();
  t.same(seen.map((m) => [m.id, m.body, m.key]), [[published[0]!.id, { n: 3 }, 'dev-3'], [published[1]!.id, { n: 1 }, 'dev-1']]);
});

t.test('replay --dry-run changes nothing; replay --all replays what is there when it starts, not what dies meanwhile', async (t) => {
  const s = await setup(t);
  const count = 130; // more than one page (100)
  const deadIds = await makeDeadLetters(s, Array.from({ length: count }, (_, i) => frame(i)), () => 'still broken');
  const deadBefore = await s.stream('dead');
  const lengthBefore = (await s.stream()).length;

  const dry = await s.cli('replay', CHANNEL, '--all', '--dry-run');
  t.equal(dry.code, 0, dry.stderr);
  const dryLines = lines(dry.stdout);
  t.equal(dryLines.length, count + 1);
  t.equal(dryLines[0], `would replay ${deadIds[0]} (packet.raw@1, original ${deadBefore[0]!.fields.originalId}, 1 delivery)`);
  t.equal(dryLines[count], `dry run: would replay ${count} of ${count} dead letters of packets.raw into the channel; 0 are already gone; nothing was changed`);
  t.same(await s.stream('dead'), deadBefore, 'the dead letters are untouched');
  t.equal((await s.stream()).length, lengthBefore, 'nothing was published');
  const dryOne = await s.json<{ done: number; dryRun: boolean }>('replay', CHANNEL, '--id', deadIds[5]!, '--dry-run');
  t.match(dryOne, { dryRun: true, done: 1 });
  t.same(await s.stream('dead'), deadBefore);

  // The bug is not fixed yet: a consumer dead-letters every replayed entry at once, while the
  // replay runs. --all must stop at the dead letters it started with.
  const relapsed: string[] = [];
  const consumer = s.channel.consume({ group: 'parse', consumer: 'parse#1', blockMs: 20 }, (batch, ctx) => {
    for (const m of batch) {
      relapsed.push(m.id);
      ctx.deadLetter(m.id, 'still broken');
    }
  });
  await consumer.ready;
  const all = await s.json<{ requested: number; done: number; alreadyGone: number; outcomes: Array<{ deadId: string; status: string; newId?: string }> }>('replay', CHANNEL, '--all');
  t.match(all, { requested: count, done: count, alreadyGone: 0 });
  t.same(all.outcomes.map((o) => o.deadId), deadIds, 'every dead letter there at the start, oldest first, once');
  await waitFor('the replayed entries handled (and dead again)', () => relapsed.length === count);
  await consumer.stop();
  const published = (await s.stream()).slice(lengthBefore);
  t.same(published.map((e) => e.id), all.outcomes.map((o) => o.newId), 'one new entry per replayed dead letter');
  t.same(published.map((e) => e.fields), deadBefore.map((d) => JSON.parse(d.fields.fields!)), 'each exactly as it was written');
  const deadAfter = await s.stream('dead');
  t.equal(deadAfter.length, count, 'the relapsed entries are dead letters again');
  t.notOk(deadAfter.some((d) => deadIds.includes(d.id)), 'under new dead-letter ids; none of the old ones is left');
});

t.test('replay refused over the high-water mark: exit 1 with the reason, the dead letter stays', async (t) => {
  const s = await setup(t);
  const [deadId] = await makeDeadLetters(s, [frame(1)], () => 'bad');
  // A backlog at the default high-water mark (10 000) that group parse has not read.
  const pipeline = s.redis.pipeline();
  for (let i = 0; i < 10_000; i++) pipeline.xadd(`${s.prefix}${CHANNEL}`, '*', 'type', 'packet.raw', 'v', '1', 'ts', '0', 'body', String(i));
  await pipeline.exec();
  const length = (await s.stream()).length;
  const run = await s.cli('replay', CHANNEL, '--id', deadId!, '--max-wait', '0.2');
  t.equal(run.code, 1);
  t.match(run.stderr, `hydra channel replay: channel 'packets.raw': dead letter ${deadId} not replayed (it stays in the dead-letter stream): backlog of 10000 stayed at or over the high-water mark 10000 for 200 ms; consumers are not keeping up; replayed 0 before stopping, the rest stay in the dead-letter stream`);
  t.equal((await s.stream()).length, length, 'nothing was published');
  t.same((await s.stream('dead')).map((d) => d.id), [deadId]);
});

t.test('discard --id: deletes the named dead letters without publishing them', async (t) => {
  const s = await setup(t);
  const deadIds = await makeDeadLetters(s, [frame(1), frame(2)], () => 'bad');
  const length = (await s.stream()).length;
  const deadBefore = await s.stream('dead');
  const dry = await s.cli('discard', CHANNEL, '--id', deadIds[0]!, '--dry-run');
  t.equal(lines(dry.stdout).at(-1), 'dry run: would discard 1 of 1 dead letter of packets.raw; 0 are already gone; nothing was changed');
  t.equal((await s.stream('dead')).length, 2);
  const run = await s.cli('discard', CHANNEL, '--id', deadIds[0]!, '--id', deadIds[0]!);
  t.equal(run.code, 0, run.stderr);
  t.same(lines(run.stdout), [
    `discarded ${deadIds[0]} (packet.raw@1, original ${deadBefore[0]!.fields.originalId}, 1 delivery)`,
    'discarded 1 of 1 dead letter of packets.raw; 0 were already gone',
  ], 'an id given twice counts once');
  t.same((await s.stream('dead')).map((d) => d.id), [deadIds[1]], 'only the named one went');
  t.equal((await s.stream()).length, length, 'nothing was published');
});

t.test('bad input is a usage error naming the bad value (exit 2), and changes nothing', async (t) => {
  const s = await setup(t);
  const [deadId] = await makeDeadLetters(s, [frame(1)], () => 'bad');
  const cases: Array<[string[], RegExp]> = [
    [['replay', CHANNEL, '--id', 'latest'], /--id: 'latest' is not a dead-letter id; expected <ms>-<seq>/],
    [['replay', CHANNEL, '--id', deadId!, '--id', '17'], /--id: '17' is not a dead-letter id/],
    [['replay', CHANNEL], /say which dead letters: --id DEADID \(repeatable\) or --all/],
    [['replay', CHANNEL, '--all', '--id', deadId!], /give either --id or --all, not both/],
    [['replay', '--all'], /missing <channel>/],
    [['replay', 'Packets', '--all'], /<channel>: 'Packets' is not a channel name/],
    [['replay', CHANNEL, '--all', '--force'], /unknown option '--force'/],
    [['replay', CHANNEL, '--all', '--max-wait', 'soon'], /--max-wait: 'soon' is invalid/],
    [['discard', CHANNEL, '--all'], /unknown option '--all'/],
    [['discard', CHANNEL, '--id', '1-x'], /--id: '1-x' is not a dead-letter id/],
    [['dead', CHANNEL, '--limit', 'ten'], /--limit: 'ten' is invalid; expected a whole number of at least 1/],
    [['dead'], /missing <channel>/],
  ];
  for (const [args, message] of cases) {
    const run = await s.cli(...args);
    t.equal(run.code, 2, `${args.join(' ')}: exit 2`);
    t.match(run.stderr, message, `${args.join(' ')}: says what was wrong`);
    t.match(run.stderr, /\nusage: hydra channel /, 'and shows the usage');
  }
  t.same((await s.stream('dead')).map((d) => d.id), [deadId], 'the dead letter is untouched');
});

t.test('Redis unreachable: exit 1 within seconds, saying where it looked', async (t) => {
  const started = Date.now();
  const run = await hydra({ REDIS_URL: 'redis://127.0.0.1:1', HYDRA_KEY_PREFIX: 'hydra-test-unreachable:' }, 'channel', 'replay', CHANNEL, '--all');
  t.equal(run.code, 1);
  t.equal(run.stderr, "hydra channel replay: cannot reach Redis at redis://127.0.0.1:1 (REDIS_URL): connect ECONNREFUSED 127.0.0.1:1; is redis-server running there?\n");
  t.equal(run.stdout, '');
  t.ok(Date.now() - started < 10_000, `gave up in ${Date.now() - started} ms`);
  const badUrl = await hydra({ REDIS_URL: 'http://127.0.0.1:6379' }, 'channel', 'dead', CHANNEL);
  t.same([badUrl.code, badUrl.stderr], [1, "hydra channel dead: REDIS_URL: 'http://127.0.0.1:6379' has scheme 'http:'; expected redis: or rediss: (e.g. redis://127.0.0.1:6379)\n"]);
});
