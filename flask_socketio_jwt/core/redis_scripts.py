"""Lua scripts behind RedisRegistry: every count that must not race changes inside one script.

Layout (P is the key prefix):
  P:procs            SET of live process ids
  P:alive:<proc>     heartbeat key with a TTL; a proc in P:procs without it is dead
  P:led:<proc>       HASH ledger of one process's contributions, field -> count:
                       c|<user_id>            sockets of a user
                       j|<user_id>|<jti>      sockets running on a jti
                       r|<room>|<username>    sockets of a user in a room
  P:conn             HASH user_id -> live sockets on every process (the per-user cap)
  P:jtis:<user_id>   HASH jti -> sockets
  P:room:<room>      HASH username -> sockets (presence: users with a count above 0)

Globals always equal the sum of the registered ledgers. Counts are never clipped, so a
process that was swept while alive (or lost its keys to a Redis restart) can replace its
ledger with a fresh snapshot (SYNC) and the arithmetic still comes out exact.
"""

from __future__ import annotations

# Shared helpers: apply a delta to a ledger field and to the global it stands for, tracking
# each touched room's member list before the change so only real presence changes are reported.
_LIB = r"""
local P = ARGV[1]
local touched, order = {}, {}

local function members(key)
  local all = redis.call('HGETALL', key)
  local out = {}
  for i = 1, #all, 2 do
    if tonumber(all[i + 1]) > 0 then out[#out + 1] = all[i] end
  end
  table.sort(out)
  return out
end

local function global_of(field)
  local kind, rest = string.sub(field, 1, 1), string.sub(field, 3)
  if kind == 'c' then return P .. ':conn', rest, nil end
  local i = string.find(rest, '|', 1, true)
  local head, tail = string.sub(rest, 1, i - 1), string.sub(rest, i + 1)
  if kind == 'j' then return P .. ':jtis:' .. head, tail, nil end
  return P .. ':room:' .. head, tail, head
end

local function bump(key, member, delta)
  local n = redis.call('HINCRBY', key, member, delta)
  if n == 0 then redis.call('HDEL', key, member) end
  return n
end

local function apply(field, delta, ledger)
  local key, member, room = global_of(field)
  if room and touched[key] == nil then
    touched[key] = table.concat(members(key), '\n')
    order[#order + 1] = {key, room}
  end
  bump(key, member, delta)
  if ledger then bump(ledger, field, delta) end
end

local function changes()
  local out = {}
  for _, kr in ipairs(order) do
    local now = members(kr[1])
    if table.concat(now, '\n') ~= touched[kr[1]] then out[#out + 1] = {kr[2], now} end
  end
  return out
end

local function registered(proc)
  return redis.call('SISMEMBER', P .. ':procs', proc) == 1
end
"""

# ARGV: prefix, proc, field1, delta1, ... -> {registered(0/1), changes}
APPLY = _LIB + r"""
local proc = ARGV[2]
local ledger = P .. ':led:' .. proc
for i = 3, #ARGV, 2 do apply(ARGV[i], tonumber(ARGV[i + 1]), ledger) end
return {registered(proc) and 1 or 0, changes()}
"""

# ARGV: prefix, proc, user_id, jti, cap -> {1 admitted / 0 refused, registered(0/1)}
RESERVE = _LIB + r"""
local proc, uid, jti, cap = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local n = tonumber(redis.call('HGET', P .. ':conn', uid) or '0')
if n >= cap then return {0, registered(proc) and 1 or 0} end
local ledger = P .. ':led:' .. proc
apply('c|' .. uid, 1, ledger)
apply('j|' .. uid .. '|' .. jti, 1, ledger)
return {1, registered(proc) and 1 or 0}
"""

# Replace a process's ledger with a snapshot of its live sockets and (re)register it.
# ARGV: prefix, proc, ttl_ms, field1, count1, ... -> changes
SYNC = _LIB + r"""
local proc, ttl = ARGV[2], ARGV[3]
local ledger = P .. ':led:' .. proc
local old = redis.call('HGETALL', ledger)
for i = 1, #old, 2 do apply(old[i], -tonumber(old[i + 1]), nil) end
redis.call('DEL', ledger)
for i = 4, #ARGV, 2 do apply(ARGV[i], tonumber(ARGV[i + 1]), ledger) end
redis.call('SADD', P .. ':procs', proc)
redis.call('SET', P .. ':alive:' .. proc, '1', 'PX', ttl)
return changes()
"""

# Remove a process's contributions: a dead one (no heartbeat key) or, with force, this one.
# ARGV: prefix, proc, force(0/1) -> changes, or false when the process is alive
SWEEP = _LIB + r"""
local proc, force = ARGV[2], ARGV[3] == '1'
if not force and redis.call('EXISTS', P .. ':alive:' .. proc) == 1 then return false end
if not force and not registered(proc) then return false end
local ledger = P .. ':led:' .. proc
local old = redis.call('HGETALL', ledger)
for i = 1, #old, 2 do apply(old[i], -tonumber(old[i + 1]), nil) end
redis.call('DEL', ledger, P .. ':alive:' .. proc)
redis.call('SREM', P .. ':procs', proc)
return changes()
"""

# ARGV: prefix, proc, ttl_ms -> 1 when still registered (heartbeat refreshed), 0 when a SYNC is due
HEARTBEAT = r"""
local P, proc = ARGV[1], ARGV[2]
if redis.call('SISMEMBER', P .. ':procs', proc) == 0 then return 0 end
redis.call('SET', P .. ':alive:' .. proc, '1', 'PX', ARGV[3])
return 1
"""

# Fixed-window failure counter. KEYS[1]: the counter; ARGV: window_ms -> count
HIT = r"""
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""
