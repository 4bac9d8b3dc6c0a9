/**
 * Starts the chat service as a child process against real PostgreSQL and Redis (a fresh database
 * and key prefix per run), and gives the load generator what it needs to drive it.
 */
import { SignJWT } from "jose";
import { createDatabase } from "../../test/helpers/postgres";
import { dropRedisPrefix } from "../../test/helpers/redis";

export const BENCH_JWT_SECRET = "bench-jwt-secret-0123456789abcdefghijklmn";
export const BENCH_INTERNAL_SECRET = "bench-internal-secret-0123456789abcdefgh";
export const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const ROOT = new URL("../..", import.meta.url).pathname;

const jwtKey = new TextEncoder().encode(BENCH_JWT_SECRET);
/** A token the service (and the Node peer) accept for `userId`. */
export const mintBenchToken = (userId: string) => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(userId).setExpirationTime("2h").sign(jwtKey);

export async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, fetch: () => new Response() });
  const port = server.port!;
  server.stop(true);
  return port;
}

/** A fresh database on the bench's server (the one the tests use too). */
const createBenchDatabase = () => createDatabase(ADMIN_DATABASE_URL);

export async function waitForHealth(url: string, timeoutMs = 30_000, proc?: { exitCode: number | null }): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (proc && proc.exitCode !== null) throw new Error(`the service exited with code ${proc.exitCode} before becoming healthy`);
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {}
    await Bun.sleep(100);
  }
  throw new Error(`${url} did not become healthy within ${timeoutMs} ms`);
}

/** Resident memory of a process, in bytes (Linux /proc). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

/** CPU seconds (user + system) a process has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  return cpuSecondsOfStat(await Bun.file(`/proc/${pid}/stat`).text());
}

/** utime + stime of a /proc/<pid>/stat line (the fields after the command, which may hold spaces). */
const cpuSecondsOfStat = (stat: string) => {
  const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

/** CPU seconds (user + system) the processes have used so far, together. */
export async function cpuSecondsOf(pids: number[]): Promise<number> {
  return (await Promise.all(pids.map(cpuSeconds))).reduce((a, b) => a + b, 0);
}

/**
 * CPU seconds used so far by every process whose command name is `name` ("postgres",
 * "redis-server"), those that exited meanwhile aside: what the shared servers spent for a phase.
 */
export async function cpuSecondsOfCommand(name: string): Promise<number> {
  let total = 0;
  for (const entry of await Array.fromAsync(new Bun.Glob("[0-9]*").scan({ cwd: "/proc", onlyFiles: false }))) {
    try {
      const stat = await Bun.file(`/proc/${entry}/stat`).text();
      if (stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) === name) total += cpuSecondsOfStat(stat);
    } catch {}
  }
  return total;
}

export type ChatService = {
  url: string;
  pid: number;
  databaseUrl: string;
  redisPrefix: string;
  internal(path: string, body: unknown): Promise<any>;
  syncUsers(ids: string[]): Promise<void>;
  token(userId: string): Promise<string>;
  api(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
  /** Ends the process at once, like a crash (SIGKILL): no goodbye to sockets, Redis or PostgreSQL. */
  kill(): Promise<void>;
};

/**
 * Runs `cmd` with its open-file limit raised to the hard limit: a process holding tens of
 * thousands of sockets needs a descriptor for each, and the soft limit is often far lower.
 */
export const withFileLimit = (cmd: string[]) => ["sh", "-c", 'ulimit -n "$(ulimit -Hn)" && exec "$@"', "sh", ...cmd];

/** The hard limit on open files a process started from here can raise itself to. */
export async function hardFileLimit(): Promise<number> {
  const out = await new Response(Bun.spawn(["sh", "-c", "ulimit -Hn"], { stdout: "pipe" }).stdout).text();
  return out.trim() === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(out.trim());
}

/**
 * Starts an instance on a fresh database and Redis prefix; with `cluster`, another instance of
 * that one's cluster: the same database and the same REDIS_PREFIX, so that the Redis adapter
 * carries broadcasts between them. Stopping the first drops the database and the keys.
 */
export async function startChatService(env: Record<string, string> = {}, cluster?: ChatService): Promise<ChatService> {
  const db = cluster ? { url: cluster.databaseUrl, drop: async () => {} } : await createBenchDatabase();
  const port = await freePort();
  const prefix = cluster ? cluster.redisPrefix : `bench${Date.now().toString(36)}:`;
  // BENCH_SERVICE_ARGS: extra Bun flags for the service, e.g. "--cpu-prof-md --cpu-prof-dir=/tmp/prof".
  const bunArgs = (process.env.BENCH_SERVICE_ARGS ?? "").split(" ").filter(Boolean);
  const proc = Bun.spawn(withFileLimit(["bun", ...bunArgs, "src/main.ts"]), {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: "production",
      HOST: "127.0.0.1",
      PORT: String(port),
      WS_PORT: String(port),
      DATABASE_URL: db.url,
      REDIS_URL,
      REDIS_PREFIX: prefix,
      AUTH_JWT_SECRET: BENCH_JWT_SECRET,
      INTERNAL_API_SECRET: BENCH_INTERNAL_SECRET,
      LOG_LEVEL: "warn",
      // The bench measures throughput, not abuse limits.
      RATE_LIMIT_MESSAGES: "100000",
      RATE_LIMIT_EVENTS: "100000",
      ...env,
    },
    stdout: "inherit",
    stderr: "inherit",
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, 30_000, proc);
  const service: ChatService = {
    url,
    pid: proc.pid,
    databaseUrl: db.url,
    redisPrefix: prefix,
    async internal(path, body) {
      const res = await fetch(url + path, {
        method: "POST",
        headers: { "content-type": "application/json", "x-internal-secret": BENCH_INTERNAL_SECRET },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.json();
    },
    async syncUsers(ids) {
      for (let i = 0; i < ids.length; i += 1000) {
        await service.internal("/api/users/sync/batch", { users: ids.slice(i, i + 1000).map((externalUserId) => ({ externalUserId })) });
      }
    },
    token: mintBenchToken,
    async api(token, method, path, body) {
      const res = await fetch(url + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        // A profiled service writes its profile as it exits, which takes a while after a long run.
        await Promise.race([proc.exited, Bun.sleep(bunArgs.length ? 120_000 : 15_000)]);
        if (proc.exitCode === null) proc.kill("SIGKILL");
      }
      await db.drop();
      if (!cluster) await dropRedisPrefix(REDIS_URL, prefix);
    },
    async kill() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
  return service;
}
