/**
 * The Lua script behind RedisCursor.ackAndAppend (transport.ts): acknowledge a batch and append
 * its outputs in one atomic step, appending only when something was still pending.
 *
 * Why a script and not MULTI: ioredis resends a command whose reply was lost when the connection
 * dropped. A resent MULTI/EXEC would append the outputs a second time; the script finds the
 * entries already acknowledged (XACK returns 0) and appends nothing.
 *
 * KEYS[1]    the consumed stream
 * KEYS[2..]  the output streams
 * ARGV[1]    the consumer group
 * ARGV[2]    n, how many ids follow; ARGV[3 .. 2+n] the ids to acknowledge
 * then, per output entry: the index of its stream in KEYS (2..), the number of field and value
 *            strings that follow (2 per field), the fields and values
 * Returns how many ids were acknowledged.
 */
export const ACK_AND_APPEND = `
local group = ARGV[1]
local n = tonumber(ARGV[2])
local acked = 0
-- XACK in slices: unpack() is limited by the Lua stack (about 8000 values).
for from = 3, 2 + n, 1000 do
  acked = acked + redis.call('XACK', KEYS[1], group, unpack(ARGV, from, math.min(2 + n, from + 999)))
end
if acked == 0 then return 0 end
local at = 3 + n
while at <= #ARGV do
  local count = tonumber(ARGV[at + 1])
  redis.call('XADD', KEYS[tonumber(ARGV[at])], '*', unpack(ARGV, at + 2, at + 1 + count))
  at = at + 2 + count
end
return acked
`;
