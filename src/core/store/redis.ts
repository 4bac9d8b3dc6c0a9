import Redis from "ioredis";
import type { Store } from "./types";

/*
 * Keys (all under the configured prefix):
 *   p:u:<user>  ZSET connection -> expiresAt ms      p:online  ZSET user -> latest expiresAt
 *   i:due       ZSET indicator key -> expiresAt      rl:<key>  fixed-window counter
 * A user is "online" while they are a member of p:online; only the Lua scripts below add or
 * remove members, so each transition is returned to exactly one caller across all instances.
 */
const PRESENCE_ADD = `
local now = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return redis.call('ZADD', KEYS[2], 'GT', ARGV[2], ARGV[4])`;


const PRESENCE_REMOVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
redis.call('DEL', KEYS[1])
return redis.call('ZREM', KEYS[2], ARGV[3])`;

const PRESENCE_SWEEP = `
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local gone = {}
for _, user in ipairs(due) do
  local key = ARGV[3] .. user
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local latest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if latest[2] then
    redis.call('ZADD', KEYS[1], latest[2], user)
  else
    redis.call('ZREM', KEYS[1], user)
    table.insert(gone, user)
  end
end
return gone`;

const INDICATOR_SWEEP = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due`;

const HIT = `
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return { c, redis.call('PTTL', KEYS[1]) }`;

type Scripts = {
  presenceAdd(k1: string, k2: string, conn: string, exp: number, now: number, user: string): Promise<number>;
  presenceRemove(k1: string, k2: string, conn: string, now: number, user: string): Promise<number>;
  presenceSweep(k1: string, now: number, limit: number, userPrefix: string): Promise<string[]>;
  indicatorSweep(k1: string, now: number, limit: number): Promise<string[]>;
  hit(k1: string, windowMs: number): Promise<[number, number]>;
};

export function createRedisClient(url: string): Redis {
  return new Redis(url, {
    // Commands wait for a reconnect instead of failing at once; readiness reports the outage.
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    lazyConnect: false,
  });
}

export function createRedisStore(redis: Redis, prefix: string): Store {
  const client = redis as Redis & Scripts;
  client.defineCommand("presenceAdd", { numberOfKeys: 2, lua: PRESENCE_ADD });
  client.defineCommand("presenceRemove", { numberOfKeys: 2, lua: PRESENCE_REMOVE });
  client.defineCommand("presenceSweep", { numberOfKeys: 1, lua: PRESENCE_SWEEP });
  client.defineCommand("indicatorSweep", { numberOfKeys: 1, lua: INDICATOR_SWEEP });
  client.defineCommand("hit", { numberOfKeys: 1, lua: HIT });

  const userKey = (userId: string) => `${prefix}p:u:${userId}`;
  const onlineKey = `${prefix}p:online`;
  const dueKey = `${prefix}i:due`;

  return {
    kind: "redis",
    async presenceAdd(userId, connectionId, ttlMs) {
      const now = Date.now();
      return (await client.presenceAdd(userKey(userId), onlineKey, connectionId, now + ttlMs, now, userId)) === 1;
    },
    async presenceRemove(userId, connectionId) {
      return (await client.presenceRemove(userKey(userId), onlineKey, connectionId, Date.now(), userId)) === 1;
    },
    async presenceOnline(userIds) {
      if (userIds.length === 0) return new Set();
      const now = Date.now();
      const pipeline = client.pipeline();
      for (const u of userIds) pipeline.zcount(userKey(u), now + 1, "+inf");
      const results = (await pipeline.exec()) ?? [];
      return new Set(userIds.filter((_, i) => Number(results[i]?.[1] ?? 0) > 0));
    },
    presenceSweep: (limit = 100) => client.presenceSweep(onlineKey, Date.now(), limit, `${prefix}p:u:`),
    async indicatorStart(key, ttlMs) {
      return (await client.zadd(dueKey, Date.now() + ttlMs, key)) === 1;
    },
    async indicatorStop(key) {
      return (await client.zrem(dueKey, key)) === 1;
    },
    indicatorSweep: (limit = 200) => client.indicatorSweep(dueKey, Date.now(), limit),
    async hit(key, windowMs) {
      const [count, ttl] = await client.hit(`${prefix}rl:${key}`, windowMs);
      return { count, resetMs: ttl > 0 ? ttl : windowMs };
    },
    async ping() {
      await client.ping();
    },
    async close() {
      await client.quit().catch(() => client.disconnect());
    },
  };
}
