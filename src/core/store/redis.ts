import Redis, { type Cluster } from "ioredis";
import type { Connection, PresenceChange, Store } from "./types";

/*
 * Keys (all under the configured prefix):
 *   {p}:u:<user>  ZSET connection -> expiresAt ms    {p}:online  ZSET user -> latest expiresAt
 *   {p}:gen       HASH user -> transition count      i:due       ZSET indicator key -> expiresAt
 *   rl:<key>      fixed-window counter
 * A user is "online" while they are a member of {p}:online; only the Lua scripts below add or
 * remove members, so each transition is returned to exactly one caller across all instances.
 * On a Redis Cluster a script may only touch keys of one slot: the presence keys share the hash
 * tag {p} (the presence scripts name user keys from their arguments), so they live on one shard;
 * the indicator and rate-limit scripts touch one key each, and those spread over the shards.
 * Times come from the Redis server's clock (TIME), so that instances with skewed clocks agree
 * on what has expired. Needs Redis 6.2 or later (ZADD GT).
 */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS: p:online, p:gen. ARGV: ttl ms, user key prefix, then user/connection pairs.
const PRESENCE_TOUCH = `${NOW}
local exp = now + tonumber(ARGV[1])
local changes = {}
for i = 3, #ARGV, 2 do
  local user = ARGV[i]
  local key = ARGV[2] .. user
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  redis.call('ZADD', key, exp, ARGV[i + 1])
  local latest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', key, latest[2])
  if redis.call('ZADD', KEYS[1], 'GT', exp, user) == 1 then
    table.insert(changes, user)
    table.insert(changes, redis.call('HINCRBY', KEYS[2], user, 1))
  end
end
return changes`;

// KEYS: p:u:<user>, p:online, p:gen. ARGV: connection, user.
const PRESENCE_REMOVE = `${NOW}
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[3], ARGV[2], 1)`;

// KEYS: p:online, p:gen. ARGV: limit, user key prefix.
const PRESENCE_SWEEP = `${NOW}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local gone = {}
for _, user in ipairs(due) do
  local key = ARGV[2] .. user
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local latest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if latest[2] then
    redis.call('ZADD', KEYS[1], latest[2], user)
  else
    redis.call('ZREM', KEYS[1], user)
    table.insert(gone, user)
    table.insert(gone, redis.call('HINCRBY', KEYS[2], user, 1))
  end
end
return gone`;

// KEYS: p:online (not read: it routes the script to the presence shard). ARGV: user key prefix,
// then users. Returns 1/0 per user.
const PRESENCE_ONLINE = `${NOW}
local live = {}
for i = 2, #ARGV do
  live[i - 1] = redis.call('ZCOUNT', ARGV[1] .. ARGV[i], '(' .. now, '+inf') > 0 and 1 or 0
end
return live`;

const INDICATOR_START = `${NOW}
return redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])`;

const INDICATOR_SWEEP = `${NOW}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due`;

const HIT = `
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return { c, redis.call('PTTL', KEYS[1]) }`;

type Scripts = {
  presenceTouch(online: string, gen: string, ttlMs: number, userPrefix: string, ...pairs: string[]): Promise<(string | number)[]>;
  presenceRemove(userKey: string, online: string, gen: string, connectionId: string, userId: string): Promise<number>;
  presenceSweep(online: string, gen: string, limit: number, userPrefix: string): Promise<(string | number)[]>;
  presenceOnline(online: string, userPrefix: string, ...userIds: string[]): Promise<number[]>;
  indicatorStart(due: string, ttlMs: number, key: string): Promise<number>;
  indicatorSweep(due: string, limit: number): Promise<string[]>;
  hit(key: string, windowMs: number): Promise<[number, number]>;
};

/** Lua scripts get their arguments on the stack: a heartbeat of 10,000 sockets goes in slices. */
const PAIRS_PER_CALL = 500;

/** A connection to one Redis server, or a client of a Redis Cluster: the store takes either. */
export type RedisClient = Redis | Cluster;

const COMMAND_TIMEOUT_MS = 1000;

/**
 * Commands fail at once while the connection is not ready, and a command in flight when it drops
 * fails with it, instead of waiting through reconnection attempts with growing backoff: chat
 * must not stall behind Redis. Callers decide what an outage means (budgets count per instance,
 * typing and presence answer UNAVAILABLE); ioredis keeps reconnecting in the background.
 */
export function createRedisClient(url: string): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // A server that stopped answering without closing the connection (frozen, or a network
    // partition) fails commands after this long.
    commandTimeout: COMMAND_TIMEOUT_MS,
    enableAutoPipelining: true,
    lazyConnect: false,
  });
}

/**
 * A Redis Cluster client. The adapter's subscriber uses sharded pub/sub (SSUBSCRIBE, Redis 7):
 * a channel is served by the shard that owns its slot rather than broadcast to every node.
 */
export function createRedisCluster(nodes: { host: string; port: number }[], options: { subscriber?: boolean } = {}): Cluster {
  return new Redis.Cluster(nodes, {
    enableAutoPipelining: true,
    shardedSubscribers: options.subscriber === true,
    // While a master fails over, commands for its slots wait and are sent again to the promoted
    // replica, instead of failing at once.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    redisOptions: { maxRetriesPerRequest: options.subscriber ? null : 3 },
  });
}

/** `[user, generation, user, generation, …]` as the scripts return transitions. */
function changesOf(flat: (string | number)[]): PresenceChange[] {
  const changes: PresenceChange[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) changes.push({ userId: String(flat[i]), generation: Number(flat[i + 1]) });
  return changes;
}

export function createRedisStore(redis: RedisClient, prefix: string): Store {
  const client = redis as RedisClient & Scripts;
  client.defineCommand("presenceTouch", { numberOfKeys: 2, lua: PRESENCE_TOUCH });
  client.defineCommand("presenceRemove", { numberOfKeys: 3, lua: PRESENCE_REMOVE });
  client.defineCommand("presenceSweep", { numberOfKeys: 2, lua: PRESENCE_SWEEP });
  client.defineCommand("presenceOnline", { numberOfKeys: 1, lua: PRESENCE_ONLINE });
  client.defineCommand("indicatorStart", { numberOfKeys: 1, lua: INDICATOR_START });
  client.defineCommand("indicatorSweep", { numberOfKeys: 1, lua: INDICATOR_SWEEP });
  client.defineCommand("hit", { numberOfKeys: 1, lua: HIT });

  const userPrefix = `${prefix}{p}:u:`;
  const onlineKey = `${prefix}{p}:online`;
  const genKey = `${prefix}{p}:gen`;
  const dueKey = `${prefix}i:due`;

  return {
    kind: "redis",
    get ready() {
      return client.status === "ready";
    },
    // Every slice is sent before the first reply is awaited: callers rely on the commands being
    // queued, in order, by the time this returns its promise.
    async presenceTouch(connections, ttlMs) {
      const calls: Promise<(string | number)[]>[] = [];
      for (let i = 0; i < connections.length; i += PAIRS_PER_CALL) {
        const pairs = connections.slice(i, i + PAIRS_PER_CALL).flatMap((c: Connection) => [c.userId, c.connectionId]);
        calls.push(client.presenceTouch(onlineKey, genKey, ttlMs, userPrefix, ...pairs));
      }
      return (await Promise.all(calls)).flatMap(changesOf);
    },
    async presenceRemove({ userId, connectionId }) {
      const generation = await client.presenceRemove(userPrefix + userId, onlineKey, genKey, connectionId, userId);
      return generation > 0 ? { userId, generation } : null;
    },
    async presenceOnline(userIds) {
      const calls: Promise<number[]>[] = [];
      for (let i = 0; i < userIds.length; i += PAIRS_PER_CALL) calls.push(client.presenceOnline(onlineKey, userPrefix, ...userIds.slice(i, i + PAIRS_PER_CALL)));
      const live = (await Promise.all(calls)).flat();
      return new Set(userIds.filter((_, i) => live[i] === 1));
    },
    async presenceSweep(limit = 500) {
      return changesOf(await client.presenceSweep(onlineKey, genKey, limit, userPrefix));
    },
    async presenceGenerations(userIds) {
      if (userIds.length === 0) return new Map();
      const values = await client.hmget(genKey, ...userIds);
      return new Map(userIds.map((u, i) => [u, Number(values[i] ?? 0)]));
    },
    async indicatorStart(key, ttlMs) {
      return (await client.indicatorStart(dueKey, ttlMs, key)) === 1;
    },
    async indicatorStop(key) {
      return (await client.zrem(dueKey, key)) === 1;
    },
    indicatorSweep: (limit = 500) => client.indicatorSweep(dueKey, limit),
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
