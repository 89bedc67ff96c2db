-- One entity's counters for one INVITE. Every key shares the entity's {hash tag}.
-- KEYS: cur, prev per counter window; cur, prev per HLL window; cur, prev per
--       read-only window; then the recent list when keep > 0.
-- ARGV: nc, nh, nr, keep; then per counter window: ttl; per HLL window: ttl,
--       element ('' = count only); then, when keep > 0: element ('' = read only), ttl.
-- Returns {cur, distinct, read, recent}: cur = the incremented count per counter window;
-- distinct = the cur+prev union count per HLL window; read = the prev count per counter
-- window, then cur, prev per read-only window; recent = the list before this push.
local nc, nh, nr, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local cur, distinct, mget = {}, {}, {}
local k, a = 1, 5
for i = 1, nc do
  cur[i] = redis.call('INCR', KEYS[k])
  if cur[i] == 1 then redis.call('EXPIRE', KEYS[k], ARGV[a]) end
  mget[#mget + 1] = KEYS[k + 1]
  k, a = k + 2, a + 1
end
for i = 1, nh do
  if ARGV[a + 1] ~= '' and redis.call('PFADD', KEYS[k], ARGV[a + 1]) == 1 then
    redis.call('EXPIRE', KEYS[k], ARGV[a])
  end
  distinct[i] = redis.call('PFCOUNT', KEYS[k], KEYS[k + 1])
  k, a = k + 2, a + 2
end
for _ = 1, nr do
  mget[#mget + 1] = KEYS[k]
  mget[#mget + 1] = KEYS[k + 1]
  k = k + 2
end
local read = {}
if #mget > 0 then
  read = redis.call('MGET', unpack(mget))
  for i = 1, #read do read[i] = tonumber(read[i]) or 0 end
end
local recent = {}
if keep > 0 then
  recent = redis.call('LRANGE', KEYS[k], 0, keep - 1)
  if ARGV[a] ~= '' then
    redis.call('LPUSH', KEYS[k], ARGV[a])
    redis.call('LTRIM', KEYS[k], 0, keep - 1)
    redis.call('EXPIRE', KEYS[k], ARGV[a + 1])
  end
end
return {cur, distinct, read, recent}
