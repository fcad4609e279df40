/**
 * The two transports the contract suite runs against, and the one thing that differs between
 * them: how a consumer dies mid-batch. A Redis consumer is a real child process killed with
 * SIGKILL. A memory channel lives inside one process by design, so killing that process takes
 * the channel with it; there the same crash is an in-process consumer abandoned mid-batch
 * (stopped without acknowledging), which leaves the same pending state behind.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { Channel, createMemoryTransport, createRedisTransport, type Transport, type TransportKind } from '../../../channels/index.js';
import { testRedis } from '../../helpers/redis.js';

export interface TransportCase {
  kind: TransportKind;
  open(t: Test): Promise<Transport>;
  /** A consumer takes one batch of `batchSize` and dies without acknowledging it; resolves with the batch's ids. */
  crashMidBatch(t: Test, channel: Channel, group: string, consumer: string, batchSize: number): Promise<string[]>;
}

const FIXTURE = fileURLToPath(new URL('../fixtures/crashingConsumer.ts', import.meta.url));

const redisCase = (): TransportCase => {
  let prefix = '';
  let url = '';
  return {
    kind: 'redis',
    async open(t) {
      ({ prefix, url } = await testRedis(t));
      const transport = createRedisTransport({ url, keyPrefix: prefix });
      t.teardown(() => transport.close());
      return transport;
    },
    async crashMidBatch(t, channel, group, consumer, batchSize) {
      const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
        env: { ...process.env, REDIS_URL: url, KEY_PREFIX: prefix, CHANNEL: channel.name, GROUP: group, CONSUMER: consumer, BATCH_SIZE: String(batchSize) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      t.teardown(() => void child.kill('SIGKILL'));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
      const firstLine = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`crashing consumer exited (${code}) before taking a batch`)));
      });
      child.kill('SIGKILL');
      t.equal(await exited, 'SIGKILL', 'consumer process was killed with SIGKILL');
      return JSON.parse(firstLine) as string[];
    },
  };
};

const memoryCase = (): TransportCase => ({
  kind: 'memory',
  async open(t) {
    const transport = await createMemoryTransport();
    t.teardown(() => transport.close());
    return transport;
  },
  async crashMidBatch(_t, channel, group, consumer, batchSize) {
    let taken: (ids: string[]) => void;
    const took = new Promise<string[]>((resolve) => (taken = resolve));
    const victim = channel.consume({ group, consumer, batchSize }, async (batch) => {
      taken(batch.map((m) => m.id));
      await new Promise(() => undefined);
    });
    const ids = await took;
    await victim.abandon();
    return ids;
  },
});

/** Runs `suite` once per transport, each in its own subtest with a fresh transport. */
export function forEachTransport(t: Test, suite: (t: Test, transport: Transport, kase: TransportCase) => Promise<void>): void {
  for (const make of [redisCase, memoryCase]) {
    const kase = make();
    t.test(kase.kind, async (t) => suite(t, await kase.open(t), kase));
  }
}
