-- One entity's counts from one proxy node since its last sync, added to the shared
-- counters; returns the new totals. Every key shares the entity's {hash tag}.
-- KEYS: cur, prev per counter; cur, prev per HyperLogLog; then the recent set when keep > 0.
-- ARGV: nc, nh, keep; per counter: ttl, ttl of prev, amount to cur, amount to prev;
--       per HyperLogLog: ttl, ttl of prev, n to cur, n to prev, then those members;
--       when keep > 0: ttl, n pushed, then per pushed To number its call time and member.
-- Returns {counts, distinct, recent}: counts = cur, prev per counter; distinct = the
-- cur+prev union count, then the cur count, per HyperLogLog; recent = the keep newest members
-- of the set (scored by call time, so in the order dialled whatever node synced first).
local nc, nh, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local counts, distinct = {}, {}
local k, a = 1, 4
local function add(i, ttl, by)
  if by > 0 then
    local v = redis.call('INCRBY', KEYS[i], by)
    if v == by then redis.call('EXPIRE', KEYS[i], ttl) end
    return v
  end
  return tonumber(redis.call('GET', KEYS[i])) or 0
end
for _ = 1, nc do
  counts[#counts + 1] = add(k, ARGV[a], tonumber(ARGV[a + 2]))
  counts[#counts + 1] = add(k + 1, ARGV[a + 1], tonumber(ARGV[a + 3]))
  k, a = k + 2, a + 4
end
for _ = 1, nh do
  local ncur, nprev = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local m = a + 4
  if ncur > 0 and redis.call('PFADD', KEYS[k], unpack(ARGV, m, m + ncur - 1)) == 1 then
    redis.call('EXPIRE', KEYS[k], ARGV[a])
  end
  m = m + ncur
  if nprev > 0 and redis.call('PFADD', KEYS[k + 1], unpack(ARGV, m, m + nprev - 1)) == 1 then
    redis.call('EXPIRE', KEYS[k + 1], ARGV[a + 1])
  end
  distinct[#distinct + 1] = redis.call('PFCOUNT', KEYS[k], KEYS[k + 1])
  distinct[#distinct + 1] = redis.call('PFCOUNT', KEYS[k])
  k, a = k + 2, m + nprev
end
local recent = {}
if keep > 0 then
  local n = tonumber(ARGV[a + 1])
  if n > 0 then
    redis.call('ZADD', KEYS[k], unpack(ARGV, a + 2, a + 1 + 2 * n))
    redis.call('ZREMRANGEBYRANK', KEYS[k], 0, -keep - 1)
    redis.call('EXPIRE', KEYS[k], ARGV[a])
  end
  recent = redis.call('ZREVRANGE', KEYS[k], 0, keep - 1)
end
return {counts, distinct, recent}
