/**
 * The `ctx` a service sees, and the emit buffer behind it. Emits made while `handle` runs are
 * collected per batch and, after `handle` resolves, handed to the consumer, which publishes them
 * together with the batch's acknowledgement (atomically on one Redis: consumer.ts
 * `publishOnAck`): a crash can then lose neither an acked message's output nor publish the
 * output of a batch that failed, nor publish a batch's output twice when it is redelivered. Which batch an emit belongs to is
 * tracked with AsyncLocalStorage, since batches of several consumed channels and HTTP requests
 * run concurrently in one process.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Channel } from '../channels/channel.js';
import { encodeMessage, parseTypeRef, type Envelope, type OutgoingMessage } from '../channels/envelope.js';
import { SpecError } from '../supervisor/errors.js';
import type { Logger } from '../core/log.js';
import type { ServiceContext, ServiceManifest } from './serviceTypes.js';

interface Outbox {
  messages: Map<Channel, OutgoingMessage[]>;
  /** The consumer's dead-letter mark for the batch in hand. */
  deadLetter?: (id: string, reason: string) => void;
  /** False once flushed: an emit from a task `handle` left running is published directly, not dropped. */
  open: boolean;
}

export interface ServiceRuntimeContext {
  ctx: ServiceContext;
  /**
   * Runs `fn` (the handle hook) with its emits buffered, then publishes them, or, given the
   * consumer's `publishOnAck`, hands them to it to be published with the batch's acknowledgement.
   */
  inBatch(fn: () => void | Promise<void>, deadLetter?: (id: string, reason: string) => void, publishOnAck?: (channel: Channel, messages: OutgoingMessage[]) => void): Promise<void>;
  /** Messages published so far. */
  emitted(): number;
}

export function createServiceContext(manifest: ServiceManifest, instance: string, log: Logger, producers: Map<string, Channel>): ServiceRuntimeContext {
  const scope = new AsyncLocalStorage<Outbox>();
  const refs = new Map<string, Map<string, { type: string; v: number }>>();
  for (const [channel, list] of Object.entries(manifest.produces ?? {})) refs.set(channel, new Map(list.map((ref) => [ref, parseTypeRef(ref)])));
  let emitted = 0;

  const emit = (channel: string, typeRef: string, body: unknown, key?: string): Promise<void> => {
    const declared = refs.get(channel);
    const producer = producers.get(channel);
    if (!declared || !producer) {
      throw new SpecError('emit channel', channel, `a channel declared in produces of service '${manifest.name}' (${[...refs.keys()].join(', ') || 'none declared'})`);
    }
    const parsed = declared.get(typeRef);
    if (!parsed) throw new SpecError(`emit type on '${channel}'`, typeRef, `a type@v declared for it in produces (${[...declared.keys()].join(', ')})`);
    const message: OutgoingMessage = key === undefined ? { type: parsed.type, v: parsed.v, body } : { type: parsed.type, v: parsed.v, key, body };
    // Validated now (the channel validates again on publish) so a bad body fails at the
    // emitting line, and one bad message of a batch keeps the others of every channel unpublished.
    encodeMessage(message, Date.now());
    const outbox = scope.getStore();
    if (outbox?.open) {
      const list = outbox.messages.get(producer);
      if (list) list.push(message);
      else outbox.messages.set(producer, [message]);
      return Promise.resolve();
    }
    return producer.publish(message).then(() => {
      emitted++;
    });
  };

  const deadLetter = (message: Envelope, reason: string): void => {
    const mark = scope.getStore()?.deadLetter;
    if (!mark) throw new Error(`ctx.deadLetter(${message.id}) called outside handle: only entries of the batch in hand can be dead-lettered`);
    mark(message.id, reason);
  };

  const ctx: ServiceContext = { service: manifest.name, version: manifest.version, instance, log, emit, counters: {}, deadLetter };

  return {
    ctx,
    emitted: () => emitted,
    async inBatch(fn, deadLetter, publishOnAck) {
      const outbox: Outbox = { messages: new Map(), open: true, ...(deadLetter ? { deadLetter } : {}) };
      try {
        await scope.run(outbox, fn);
      } finally {
        outbox.open = false;
      }
      for (const [channel, messages] of outbox.messages) {
        if (publishOnAck) publishOnAck(channel, messages);
        else await channel.publishMany(messages);
        emitted += messages.length;
      }
    },
  };
}
