-- One entity's counts from one proxy node since its last sync, added to the shared
-- counters; returns the new totals. Every key shares the entity's {hash tag}.
-- KEYS: cur, prev per counter; cur, prev per HyperLogLog; then the recent set when keep > 0.
-- ARGV: nc, nh, keep; per counter: ttl, ttl of prev, amount to cur, amount to prev;
--       per HyperLogLog: ttl, ttl of prev, n to cur, n to prev, then those members;
--       when keep > 0: ttl, n pushed, then per pushed To number its call time and member.
-- Returns {counts, distinct, recent}: counts = cur, prev per counter; distinct = the
-- cur+prev union count, then the cur count, per HyperLogLog; recent = the keep newest members
-- of the set (scored by call time, so in the order dialled whatever node synced first).
-- Each redis.call costs Redis more than the command itself (most of a sync's CPU in Redis),
-- so reads are skipped where their reply is known: an entity none of whose keys exists (its
-- first sync; mostly a caller seen once) has, as totals, what this sync adds (a HyperLogLog of
-- one member counts 1), and its counters are SET with their TTL in one call; the counters
-- nothing was added to are read with one MGET; and when no previous bucket of the
-- HyperLogLogs exists, each union is its current bucket's count.
local nc, nh, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local fresh = #KEYS > 0 and redis.call('EXISTS', unpack(KEYS)) == 0
local counts, distinct = {}, {}
local k, a = 1, 4
local mget, slots = {}, {}
for _ = 1, nc do
  for j = 0, 1 do
    local by = tonumber(ARGV[a + 2 + j])
    if by > 0 and fresh then
      redis.call('SET', KEYS[k + j], by, 'EX', ARGV[a + j])
      counts[#counts + 1] = by
    elseif by > 0 then
      local v = redis.call('INCRBY', KEYS[k + j], by)
      if v == by then redis.call('EXPIRE', KEYS[k + j], ARGV[a + j]) end
      counts[#counts + 1] = v
    else
      counts[#counts + 1] = 0
      if not fresh then
        mget[#mget + 1] = KEYS[k + j]
        slots[#slots + 1] = #counts
      end
    end
  end
  k, a = k + 2, a + 4
end
if #mget > 0 then
  local got = redis.call('MGET', unpack(mget))
  for i = 1, #mget do
    counts[slots[i]] = tonumber(got[i]) or 0
  end
end
local first, exists, added = k, {}, {}
for i = 1, nh do
  local ncur, nprev = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local m = a + 4
  if ncur > 0 and redis.call('PFADD', KEYS[k], unpack(ARGV, m, m + ncur - 1)) == 1 then
    redis.call('EXPIRE', KEYS[k], ARGV[a])
  end
  m = m + ncur
  if nprev > 0 and redis.call('PFADD', KEYS[k + 1], unpack(ARGV, m, m + nprev - 1)) == 1 then
    redis.call('EXPIRE', KEYS[k + 1], ARGV[a + 1])
  end
  added[i] = {ncur, nprev}
  exists[#exists + 1] = KEYS[k + 1]
  k, a = k + 2, m + nprev
end
local alone
for i = 1, nh do
  local ncur, nprev = added[i][1], added[i][2]
  if fresh and ncur + nprev <= 1 then
    distinct[#distinct + 1] = ncur + nprev
    distinct[#distinct + 1] = ncur
  else
    if alone == nil then alone = redis.call('EXISTS', unpack(exists)) == 0 end
    local key = first + 2 * (i - 1)
    local cur = redis.call('PFCOUNT', KEYS[key])
    if alone then
      distinct[#distinct + 1] = cur
    else
      distinct[#distinct + 1] = redis.call('PFCOUNT', KEYS[key], KEYS[key + 1])
    end
    distinct[#distinct + 1] = cur
  end
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
