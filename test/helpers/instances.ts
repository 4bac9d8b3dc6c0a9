/**
 * Real service processes (`bun src/main.ts`) that a test can crash and restart: several sharing
 * one Postgres database and one Redis prefix (a cluster), or one on its own storage. Embedded
 * PGlite and the in-process store belong to one process, so clusters always use real servers, in
 * either test mode: DATABASE_URL's and REDIS_URL's when set, else the test process's own (see
 * servers.ts). An unreachable server fails the test; it is never skipped.
 */
import { join } from "node:path";
import Redis from "ioredis";
import { freePort } from "./ports";
import { postgresServer, redisServer, whenTestsEnd } from "./servers";
import { dropRedisPrefix, freshDatabase, INTERNAL_SECRET, JWT_SECRET, mintToken, sendRequest, uniquePrefix } from "./service";

const ROOT = join(import.meta.dir, "../..");

export type Instance = {
  url: string;
  wsUrl: string;
  /** The current process's id (a restart changes it). */
  pid(): number;
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
  redisUrl: string;
  redisPrefix: string;
  start(env?: Record<string, string>): Promise<Instance>;
  /** Tears everything down: every process, the database, the Redis keys. */
  stop(): Promise<void>;
};

/** Every process any test started; killed after the last test, whatever happened. */
const running = new Set<ReturnType<typeof Bun.spawn>>();
whenTestsEnd(() => {
  for (const proc of running) proc.kill("SIGKILL");
});

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

async function waitForHealth(url: string, proc: ReturnType<typeof Bun.spawn>, output: () => string, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`instance exited with ${proc.exitCode} before it was healthy:\n${output()}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {}
    await Bun.sleep(50);
  }
  throw new Error(`instance not healthy within ${timeoutMs} ms:\n${output()}`);
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]) {
  const decoder = new TextDecoder();
  for await (const chunk of stream) into.push(decoder.decode(chunk));
}

/**
 * One service process on free ports with `env` (over test defaults); healthy when this resolves.
 * Fixed ports (PORT/WS_PORT in env) start an instance where another one was, as a restart does.
 */
export async function startInstance(env: Record<string, string>): Promise<Instance> {
  const port = env.PORT ? Number(env.PORT) : freePort();
  let wsPort = env.WS_PORT ? Number(env.WS_PORT) : freePort();
  while (wsPort === port && !env.WS_PORT) wsPort = freePort();
  const lines: string[] = [];
  const output = () => lines.join("");
  const url = `http://127.0.0.1:${port}`;
  let proc!: ReturnType<typeof Bun.spawn>;
  const spawn = async () => {
    proc = Bun.spawn([process.execPath, "src/main.ts"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: "test",
        LOG_LEVEL: "warn",
        HOST: "127.0.0.1",
        PORT: String(port),
        WS_PORT: String(wsPort),
        AUTH_JWT_SECRET: JWT_SECRET,
        INTERNAL_API_SECRET: INTERNAL_SECRET,
        SHUTDOWN_TIMEOUT_MS: "5000",
        ...env,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    const current = proc;
    running.add(current);
    void collect(current.stdout as ReadableStream<Uint8Array>, lines);
    void collect(current.stderr as ReadableStream<Uint8Array>, lines);
    void current.exited.then(() => running.delete(current));
    try {
      await waitForHealth(url, current, output);
    } catch (error) {
      current.kill("SIGKILL");
      throw error;
    }
  };
  const instance: Instance = {
    url,
    wsUrl: `http://127.0.0.1:${wsPort}`,
    pid: () => proc.pid,
    output,
    async crash() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
      await proc.exited;
      clearTimeout(timer);
    },
    async restart() {
      await instance.crash();
      await spawn();
    },
  };
  await spawn();
  return instance;
}

/** Where a cluster keeps its state: the test process's servers unless given. */
export type ClusterServers = { postgres?: string; redis?: string };

export async function startCluster(shared: Record<string, string> = {}, servers: ClusterServers = {}): Promise<Cluster> {
  const redisUrl = servers.redis ?? (await redisServer());
  await requireRedis(redisUrl);
  const database = await freshDatabase(servers.postgres ?? (await postgresServer()));
  const redisPrefix = uniquePrefix();
  const mine = new Set<Instance>();
  return {
    databaseUrl: database.url!,
    redisUrl,
    redisPrefix,
    async start(env = {}) {
      const instance = await startInstance({ DATABASE_URL: database.url!, REDIS_URL: redisUrl, REDIS_PREFIX: redisPrefix, ...shared, ...env });
      mine.add(instance);
      return instance;
    },
    async stop() {
      await Promise.all([...mine].map((i) => i.stop()));
      await database.drop();
      await dropRedisPrefix(redisUrl, redisPrefix).catch(() => {});
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
    delete: (path: string) => sendRequest(instance.url, "DELETE", path, { headers }),
  };
}
