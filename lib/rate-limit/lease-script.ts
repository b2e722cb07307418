// The Lua script every sidecar runs on the shared Redis to lease tokens: a
// token bucket kept in one hash (tokens, last refill in ms), refilled at the
// rate on Redis's own clock (TIME, so the sidecars' clocks never matter) and
// taken from atomically (a script runs alone: https://redis.io/docs/latest/develop/interact/programmability/eval-intro/).
// It also notes the calling sidecar in a sorted set by time, so each lease
// says how many sidecars shared the bucket lately, which sizes their batches.
//
// KEYS[1] the bucket hash, KEYS[2] the sidecars' sorted set
// ARGV: rate per ms, burst, tokens wanted, this sidecar's id, how long a sidecar counts (ms)
// Returns {tokens granted, ms until the next token when short, sidecars seen}.
// Worked example, 50/s (0.05/ms) burst 50: a fresh bucket holds 50; a lease
// of 3 leaves 47. 20 ms later it holds min(50, 47 + 20 x 0.05) = 48.

export const LEASE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local granted = math.min(want, math.floor(tokens + 1e-9))
if granted < 0 then granted = 0 end
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', ts)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 60000)
local wait = 0
if granted < want and tokens < 1 then wait = math.ceil((1 - tokens) / rate) end
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]))
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[5]) * 2)
return {granted, wait, redis.call('ZCARD', KEYS[2])}
`;
