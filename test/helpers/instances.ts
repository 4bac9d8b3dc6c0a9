/**
 * Several real service processes (`bun src/main.ts`) sharing one Postgres database and one Redis
 * prefix, for tests of what only shows across instances. Embedded PGlite and the in-process store
 * belong to one process, so these always use real servers, in either test mode: CI_DATABASE_URL,
 * DATABASE_URL or the local Postgres, and REDIS_URL or the local Redis. An unreachable server
 * fails the test; it is never skipped.
 */
import { join } from "node:path";
import Redis from "ioredis";
import { dropRedisPrefix, freshDatabase, INTERNAL_SECRET, JWT_SECRET, mintToken, sendRequest, uniquePrefix } from "./service";

const ROOT = join(import.meta.dir, "../..");
const POSTGRES = process.env.CI_DATABASE_URL ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const REDIS = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

export type Instance = {
  url: string;
  wsUrl: string;
  pid: number;
  /** Ends the process at once, like a crash: no goodbye to sockets, Redis or Postgres. */
  crash(): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited within 15 s. */
  stop(): Promise<void>;
  /** What the process wrote so far, for failure messages. */
  output(): string;
};

export type Cluster = {
  databaseUrl: string;
  redisPrefix: string;
  start(env?: Record<string, string>): Promise<Instance>;
  /** Tears everything down: every process, the database, the Redis keys. */
  stop(): Promise<void>;
};

/** Every process any cluster started; killed when the test process exits, whatever happened. */
const running = new Set<ReturnType<typeof Bun.spawn>>();
const killAll = () => {
  for (const proc of running) proc.kill("SIGKILL");
};
process.once("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === "SIGINT" ? 2 : 15));
  });
}

/**
 * A port nobody listens on, taken below the kernel's ephemeral range: a port the kernel hands
 * out for port 0 could be given to another process between this check and the child's bind.
 */
export function freePort(): number {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      const probe = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
      probe.stop(true);
      return port;
    } catch {}
  }
  throw new Error("no free port found");
}

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
    await Bun.sleep(100);
  }
  throw new Error(`instance not healthy within ${timeoutMs} ms:\n${output()}`);
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]) {
  const decoder = new TextDecoder();
  for await (const chunk of stream) into.push(decoder.decode(chunk));
}

export async function startCluster(shared: Record<string, string> = {}): Promise<Cluster> {
  await requireRedis(REDIS);
  const database = await freshDatabase(POSTGRES);
  const redisPrefix = uniquePrefix();
  const mine = new Set<Instance>();

  const start = async (env: Record<string, string> = {}): Promise<Instance> => {
    // Fixed ports (PORT/WS_PORT in env) start an instance where another one was, as a restart does.
    const port = env.PORT ? Number(env.PORT) : freePort();
    let wsPort = env.WS_PORT ? Number(env.WS_PORT) : freePort();
    while (wsPort === port && !env.WS_PORT) wsPort = freePort();
    const proc = Bun.spawn([process.execPath, "src/main.ts"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: "test",
        LOG_LEVEL: "warn",
        HOST: "127.0.0.1",
        PORT: String(port),
        WS_PORT: String(wsPort),
        DATABASE_URL: database.url!,
        REDIS_URL: REDIS,
        REDIS_PREFIX: redisPrefix,
        AUTH_JWT_SECRET: JWT_SECRET,
        INTERNAL_API_SECRET: INTERNAL_SECRET,
        SHUTDOWN_TIMEOUT_MS: "5000",
        ...shared,
        ...env,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    running.add(proc);
    const lines: string[] = [];
    void collect(proc.stdout, lines);
    void collect(proc.stderr, lines);
    void proc.exited.then(() => running.delete(proc));
    const output = () => lines.join("");
    const url = `http://127.0.0.1:${port}`;
    const instance: Instance = {
      url,
      wsUrl: `http://127.0.0.1:${wsPort}`,
      pid: proc.pid,
      output,
      async crash() {
        proc.kill("SIGKILL");
        await proc.exited;
      },
      async stop() {
        if (proc.exitCode !== null) return;
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
        await proc.exited;
        clearTimeout(timer);
      },
    };
    mine.add(instance);
    try {
      await waitForHealth(url, proc, output);
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
      await dropRedisPrefix(REDIS, redisPrefix);
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
