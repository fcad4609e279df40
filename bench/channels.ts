/**
 * Channel throughput: publish and consume msgs/s of each transport at batch sizes 1, 100 and
 * 1000. Publish at batch 1 is one awaited publish() per message (a round trip each); larger
 * batches use publishMany. Consume is one consumer with a no-op handler, timed until every
 * message is acknowledged.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Channel, createMemoryTransport, createRedisTransport, type Transport } from '../channels/index.js';
import { progress, table, writeResult } from './report.js';

const BATCHES = [1, 100, 1000] as const;
/** Messages per run: enough for a stable rate, small enough for a 2-core machine. */
const COUNT: Record<(typeof BATCHES)[number], number> = { 1: 5_000, 100: 50_000, 1000: 100_000 };
const BODY = { site: 'site-1', device: 'fu-0042', seq: 0, items: [{ id: 'det-0001', status: 'armed', voltage: 24.1, resistance: 3.2 }] };

interface Row {
  transport: string;
  batch: number;
  messages: number;
  publishPerSec: number;
  consumePerSec: number;
}

async function measure(transport: Transport, batch: number, messages: number): Promise<Row> {
  const channel = new Channel(transport, `bench.b${batch}`, { highWaterMark: Infinity, retentionIntervalMs: 0 });
  const msgs = Array.from({ length: messages }, (_, i) => ({ type: 'packet.raw', v: 1, key: 'fu-0042', body: { ...BODY, seq: i } }));
  const t0 = process.hrtime.bigint();
  if (batch === 1) for (const m of msgs) await channel.publish(m);
  else for (let i = 0; i < messages; i += batch) await channel.publishMany(msgs.slice(i, i + batch));
  const publishS = Number(process.hrtime.bigint() - t0) / 1e9;

  let handled = 0;
  let finished!: () => void;
  const allDone = new Promise<void>((r) => (finished = r));
  const t1 = process.hrtime.bigint();
  const consumer = channel.consume({ group: 'bench', consumer: 'c1', batchSize: batch, blockMs: 100 }, (b) => {
    handled += b.length;
    if (handled >= messages) finished();
  });
  await allDone;
  await consumer.stop(); // includes the last batch's acknowledgement
  const consumeS = Number(process.hrtime.bigint() - t1) / 1e9;
  return { transport: transport.kind, batch, messages, publishPerSec: messages / publishS, consumePerSec: messages / consumeS };
}

export async function benchChannels(): Promise<Row[]> {
  const rows: Row[] = [];
  const prefix = `hydra-bench:${process.pid}:${randomBytes(3).toString('hex')}:`;
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const makers: Array<[string, () => Promise<Transport>]> = [
    ['redis', async () => createRedisTransport({ url: redisUrl, keyPrefix: prefix })],
    ['memory', () => createMemoryTransport()],
  ];
  try {
    for (const [name, make] of makers) {
      for (const batch of BATCHES) {
        const transport = await make();
        try {
          const row = await measure(transport, batch, COUNT[batch]);
          rows.push(row);
          progress(`channels ${name.padEnd(6)} batch ${String(batch).padStart(4)}: publish ${Math.round(row.publishPerSec)} msg/s, consume ${Math.round(row.consumePerSec)} msg/s (${row.messages} msgs)`);
        } finally {
          await transport.close();
        }
      }
    }
  } finally {
    const redis = new Redis(redisUrl);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
  process.stdout.write(`\n${table(['transport', 'batch', 'messages', 'publish msg/s', 'consume msg/s'], rows.map((r) => [r.transport, r.batch, r.messages, r.publishPerSec, r.consumePerSec]))}\n`);
  const file = writeResult('channels', { results: rows });
  process.stdout.write(`\nwrote ${file}\n`);
  return rows;
}
