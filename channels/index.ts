/**
 * The channel layer's public surface. Services and the runtime import from here only.
 */
export { Channel, isChannelName, type ChannelOptions } from './channel.js';
export { Consumer, type ConsumeOptions, type ConsumerStats, type Handler, type HandlerContext } from './consumer.js';
export { type Envelope, type OutgoingMessage, type EntryFields, parseTypeRef, encodeMessage, decodeEntry } from './envelope.js';
export { ChannelError, EnvelopeError, UpcastError } from './errors.js';
export { reasonOf } from '../core/errors.js';
export { Upcasters, upcasters, type Converter } from './upcasters.js';
export { MonotonicIds, compareStreamIds } from './streamId.js';
export type { Transport, TransportKind, DeadLetter, GroupState } from './transport.js';
export { createRedisTransport, DEFAULT_REDIS_URL, type RedisTransportOptions } from './redis/redisTransport.js';
export { createMemoryTransport } from './memory/memoryTransport.js';
