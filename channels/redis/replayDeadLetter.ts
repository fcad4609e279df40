/**
 * The Lua script behind RedisTransport.replayDeadLetter (transport.ts): delete a dead letter
 * and append the entry it holds to its channel, in one atomic step that appends only if the
 * dead letter was still there.
 *
 * Why a script and not MULTI: ioredis resends a command whose reply was lost when the
 * connection dropped. A resent MULTI/EXEC would append the entry a second time; the resent
 * script finds the dead letter gone (XDEL returns 0) and appends nothing. And a replay racing a
 * discard, or two operators replaying the same id, publish it at most once: whoever deletes it
 * appends it.
 *
 * The entry's fields come from the caller, who read them from the dead letter just before
 * (dead letters are stream entries: never modified, and their ids are never reused).
 *
 * KEYS[1]    the channel's dead-letter stream (`<prefix><channel>:dead`)
 * KEYS[2]    the channel's stream
 * ARGV[1]    the dead letter's id
 * ARGV[2..]  the entry's fields and values, in their original order
 * Returns the new entry's id, or nil (false) when the dead letter was not there.
 */
export const REPLAY_DEAD_LETTER = `
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return false end
return redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
`;
