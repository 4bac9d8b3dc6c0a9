/**
 * Real service processes (`bun src/main.ts`) that a test can crash and restart: several sharing
 * one Postgres database and one Redis prefix (a cluster), or one on its own storage. Embedded
 * PGlite and the in-process store belong to one process, so clusters always use real servers, in
 * either test mode: DATABASE_URL's and REDIS_URL's when set, else the test process's own (see
 * servers.ts). An unreachable server fails the test; it is never skipped.
 */
import { afterAll, beforeAll } from "bun:test";
import { join } from "node:path";
import Redis from "ioredis";
import type { ManagerOptions, SocketOptions } from "socket.io-client";
import { answersOk, type Child, freePort, spawnChild, waitUntil } from "./processes";
import { postgresServer, redisServer } from "./servers";
import { closeAllSockets, connectSocket } from "./sockets";
import { dropRedisPrefix, freshDatabase, INTERNAL_SECRET, JWT_SECRET, mintToken, sendRequest, uniquePrefix } from "./service";

const ROOT = join(import.meta.dir, "../..");

export type Instance = {
  url: string;
  wsUrl: string;
  port: number;
  wsPort: number;
  /** The current process's id (a restart changes it). */
  readonly pid: number;
  /** Resolves with the current process's exit code. */
  readonly exited: Promise<number>;
  /** Ends the process at once, like a crash: no goodbye to sockets, Redis or Postgres. */
  crash(): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited within 15 s. */
  stop(): Promise<void>;
  /** Starts a new process with the same ports and environment (after a crash or a stop). */
  restart(): Promise<void>;
  /** What the processes wrote so far, for failure messages and log checks. */
  output(): string;
};

export type Cluster = {
  databaseUrl: string;
  redisUrl: string | undefined;
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

async function waitForHealth(url: string, child: Child, output: () => string, timeoutMs = 30_000) {
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`instance exited with ${child.exitCode} before it was healthy:\n${output()}`);
      return answersOk(`${url}/health`);
    },
    timeoutMs,
    () => `instance not healthy:\n${output()}`,
  );
}

/**
 * One service process on free ports with `env` (over test defaults); healthy when this resolves.
 * Fixed ports (PORT/WS_PORT in env) start an instance where another one was, as a restart does.
 */
export async function startInstance(env: Record<string, string>): Promise<Instance> {
  const port = env.PORT ? Number(env.PORT) : freePort();
  let wsPort = env.WS_PORT ? Number(env.WS_PORT) : freePort();
  while (wsPort === port && !env.WS_PORT) wsPort = freePort();
  const url = `http://127.0.0.1:${port}`;
  const children: Child[] = [];
  const output = () => children.map((c) => c.output()).join("");
  const current = () => children[children.length - 1]!;
  const spawn = async () => {
    const child = spawnChild([process.execPath, "src/main.ts"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: "test",
        LOG_LEVEL: "warn",
        HOST: "127.0.0.1",
        AUTH_JWT_SECRET: JWT_SECRET,
        INTERNAL_API_SECRET: INTERNAL_SECRET,
        SHUTDOWN_TIMEOUT_MS: "5000",
        ...env,
        PORT: String(port),
        WS_PORT: String(wsPort),
      },
    });
    children.push(child);
    try {
      await waitForHealth(url, child, output);
    } catch (error) {
      await child.crash();
      throw error;
    }
  };
  const instance: Instance = {
    url,
    wsUrl: `http://127.0.0.1:${wsPort}`,
    port,
    wsPort,
    get pid() {
      return current().pid;
    },
    get exited() {
      return current().exited;
    },
    output,
    crash: () => current().crash(),
    stop: () => current().stop(15_000),
    async restart() {
      await current().crash();
      await spawn();
    },
  };
  await spawn();
  return instance;
}

/**
 * Instances sharing one fresh database and one Redis prefix. Where they keep their state: the test
 * process's servers unless given; `redisClusterNodes` puts them on that Redis Cluster
 * (REDIS_CLUSTER_NODES) instead of REDIS_URL.
 */
export type ClusterServers = { postgres?: string; redis?: string; redisClusterNodes?: string };

export async function startCluster(shared: Record<string, string> = {}, servers: ClusterServers = {}): Promise<Cluster> {
  const redisUrl = servers.redisClusterNodes ? undefined : (servers.redis ?? (await redisServer()));
  if (redisUrl) await requireRedis(redisUrl);
  const redis: Record<string, string> = redisUrl ? { REDIS_URL: redisUrl } : { REDIS_CLUSTER_NODES: servers.redisClusterNodes! };
  const database = await freshDatabase(servers.postgres ?? (await postgresServer()));
  const redisPrefix = uniquePrefix();
  const mine = new Set<Instance>();
  return {
    databaseUrl: database.url!,
    redisUrl,
    redisPrefix,
    async start(env = {}) {
      const instance = await startInstance({ DATABASE_URL: database.url!, ...redis, REDIS_PREFIX: redisPrefix, ...shared, ...env });
      mine.add(instance);
      return instance;
    },
    async stop() {
      await Promise.all([...mine].map((i) => i.stop()));
      await database.drop();
      // A test's own Redis Cluster goes away with its servers.
      if (redisUrl) await dropRedisPrefix(redisUrl, redisPrefix).catch(() => {});
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

/**
 * Two instances of one fresh cluster for the whole file: registers the beforeAll that starts them
 * (handing them to `use`) and the afterAll that closes every test socket and tears the cluster down.
 */
export function withTwoInstances(use: (a: Instance, b: Instance, cluster: Cluster) => void, env: Record<string, string> = {}): void {
  let cluster: Cluster | undefined;
  beforeAll(async () => {
    cluster = await startCluster(env);
    const [a, b] = await Promise.all([cluster.start(), cluster.start()]);
    use(a, b, cluster);
  }, 90_000);
  afterAll(async () => {
    closeAllSockets();
    await cluster?.stop();
  }, 60_000);
}
