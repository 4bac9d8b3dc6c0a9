/**
 * Several real service processes (`bun src/main.ts`) sharing one Postgres database and one Redis
 * prefix, for tests of what only shows across instances. Embedded PGlite and the in-process store
 * belong to one process, so these always use real servers, in either test mode: CI_DATABASE_URL,
 * DATABASE_URL or the local Postgres, and REDIS_URL or the local Redis. An unreachable server
 * fails the test; it is never skipped.
 */
import { join } from "node:path";
import Redis from "ioredis";
import type { ManagerOptions, SocketOptions } from "socket.io-client";
import { answersOk, type Child, freePort, spawnChild, waitUntil } from "./processes";
import { connectSocket } from "./sockets";
import { dropRedisPrefix, freshDatabase, INTERNAL_SECRET, JWT_SECRET, mintToken, sendRequest, uniquePrefix } from "./service";

const ROOT = join(import.meta.dir, "../..");
const POSTGRES = process.env.CI_DATABASE_URL ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const REDIS = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

export type Instance = {
  url: string;
  wsUrl: string;
  port: number;
  wsPort: number;
  pid: number;
  /** Ends the process at once, like a crash: no goodbye to sockets, Redis or Postgres. */
  crash(): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited within 15 s. */
  stop(): Promise<void>;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** What the process wrote so far, for failure messages. */
  output(): string;
};

export type Cluster = {
  databaseUrl: string;
  redisPrefix: string;
  /** A new instance; PORT and WS_PORT in `env` start it where a stopped one listened. */
  start(env?: Record<string, string>): Promise<Instance>;
  /** Tears everything down: every process, the database, the Redis keys. */
  stop(): Promise<void>;
};

async function requireRedis(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Redis at ${url} is required for multi-instance tests and is not reachable: ${error}`);
  } finally {
    redis.disconnect();
  }
}

async function waitForHealth(url: string, child: Child, timeoutMs = 30_000) {
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`instance exited with ${child.exitCode} before it was healthy:\n${child.output()}`);
      return answersOk(`${url}/health`);
    },
    timeoutMs,
    () => `instance not healthy:\n${child.output()}`,
  );
}

/** `redisClusterNodes`: the instances use that Redis Cluster (REDIS_CLUSTER_NODES) instead of REDIS_URL. */
export async function startCluster(shared: Record<string, string> = {}, options: { redisClusterNodes?: string } = {}): Promise<Cluster> {
  const redis: Record<string, string> = options.redisClusterNodes ? { REDIS_CLUSTER_NODES: options.redisClusterNodes } : { REDIS_URL: REDIS };
  if (!options.redisClusterNodes) await requireRedis(REDIS);
  const database = await freshDatabase(POSTGRES);
  const redisPrefix = uniquePrefix();
  const mine = new Set<Instance>();

  const start = async (env: Record<string, string> = {}): Promise<Instance> => {
    // Fixed ports (PORT/WS_PORT in env) start an instance where another one was, as a restart does.
    const port = env.PORT ? Number(env.PORT) : freePort();
    let wsPort = env.WS_PORT ? Number(env.WS_PORT) : freePort();
    while (wsPort === port && !env.WS_PORT) wsPort = freePort();
    const child = spawnChild([process.execPath, "src/main.ts"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: "test",
        LOG_LEVEL: "warn",
        HOST: "127.0.0.1",
        DATABASE_URL: database.url!,
        ...redis,
        REDIS_PREFIX: redisPrefix,
        AUTH_JWT_SECRET: JWT_SECRET,
        INTERNAL_API_SECRET: INTERNAL_SECRET,
        SHUTDOWN_TIMEOUT_MS: "5000",
        ...shared,
        ...env,
        PORT: String(port),
        WS_PORT: String(wsPort),
      },
    });
    const url = `http://127.0.0.1:${port}`;
    const instance: Instance = {
      url,
      wsUrl: `http://127.0.0.1:${wsPort}`,
      port,
      wsPort,
      pid: child.pid,
      exited: child.exited,
      output: child.output,
      crash: child.crash,
      stop: () => child.stop(),
    };
    mine.add(instance);
    try {
      await waitForHealth(url, child);
    } catch (error) {
      await instance.crash();
      throw error;
    }
    return instance;
  };

  return {
    databaseUrl: database.url!,
    redisPrefix,
    start,
    async stop() {
      await Promise.all([...mine].map((i) => i.stop()));
      await database.drop();
      // A test's own Redis Cluster goes away with its servers.
      if (!options.redisClusterNodes) await dropRedisPrefix(REDIS, redisPrefix);
    },
  };
}

/** The internal API of one instance. */
export const internal = (instance: Instance, method: string, path: string, body?: unknown) =>
  sendRequest(instance.url, method, path, { body, headers: { "x-internal-secret": INTERNAL_SECRET } });

/** A user's REST client against one instance. */
export async function restAs(instance: Instance, userId: string) {
  const headers = { authorization: `Bearer ${await mintToken(userId)}` };
  return {
    get: (path: string) => sendRequest(instance.url, "GET", path, { headers }),
    post: (path: string, body?: unknown) => sendRequest(instance.url, "POST", path, { body, headers }),
    put: (path: string, body?: unknown) => sendRequest(instance.url, "PUT", path, { body, headers }),
    patch: (path: string, body?: unknown) => sendRequest(instance.url, "PATCH", path, { body, headers }),
    delete: (path: string) => sendRequest(instance.url, "DELETE", path, { headers }),
  };
}

let counter = 0;
/** Users synced through `instance`, with ids unique to this run. */
export async function usersOn(instance: Instance, ...names: string[]): Promise<string[]> {
  const tag = `${Date.now().toString(36)}${counter++}`;
  const ids = names.map((n) => `${n}-${tag}`);
  const res = await internal(instance, "POST", "/api/users/sync/batch", { users: ids.map((externalUserId) => ({ externalUserId })) });
  if (res.status !== 200) throw new Error(`sync: ${res.status} ${JSON.stringify(res.body)}`);
  return ids;
}

/** A user's socket on one instance's socket port, once `connected`. */
export const connectTo = async (instance: Instance, userId: string, opts: Partial<ManagerOptions & SocketOptions> = {}) =>
  (await connectSocket(instance.wsUrl, await mintToken(userId), opts)).socket;

/** A group created through `on`; its id. */
export async function groupOn(on: Instance, ownerId: string, others: string[], name = "group"): Promise<string> {
  const res = await (await restAs(on, ownerId)).post("/api/conversations", { type: "group", participantIds: others, name });
  if (res.status !== 201) throw new Error(`group: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}
