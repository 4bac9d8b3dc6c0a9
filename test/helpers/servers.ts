/**
 * PostgreSQL and Redis servers of the test process's own: started on free ports from the
 * installed binaries, data in a temporary directory, stopped and removed when the process exits.
 * Tests that stop, kill or cut a server start one of their own; the others share one per test
 * process (see postgresServer and redisServer), so that the suite needs the software installed
 * but no service running, and never touches the machine's.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./processes";

const INSTALL = "apt-get install postgresql redis-server";

/** Every server started by this process, stopped once the tests are done whatever happened. */
const cleanups = new Set<() => void>();

/**
 * Stops and removes every server this process started. `bun test` runs no exit handlers, so the
 * preload calls this after the last test file; the handlers below cover interrupts.
 */
export function stopAllServers(): void {
  for (const cleanup of cleanups) cleanup();
  cleanups.clear();
}
process.once("exit", stopAllServers);

/** Runs `cleanup` with the servers' (for other processes the tests start). */
export function whenTestsEnd(cleanup: () => void): void {
  cleanups.add(cleanup);
}
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) process.once(signal, () => process.exit(code));

function run(command: string[], what: string): string {
  const result = spawnSync(command[0]!, command.slice(1), { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${what} failed (${command.join(" ")}):\n${result.stdout}${result.stderr}${result.error ?? ""}`);
  return result.stdout;
}

/** The same, without blocking the test process (its clients keep running meanwhile). */
async function runInBackground(command: string[], what: string): Promise<void> {
  const proc = Bun.spawn(command, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${what} failed (${command.join(" ")}):\n${out}${err}`);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** initdb and pg_ctl: POSTGRES_BIN_DIR, else PATH, else the newest /usr/lib/postgresql/<n>/bin. */
function postgresBinaries(): { initdb: string; pgCtl: string } {
  const dirs = process.env.POSTGRES_BIN_DIR !== undefined ? [process.env.POSTGRES_BIN_DIR] : [];
  if (!dirs.length) {
    const onPath = Bun.which("pg_ctl");
    if (onPath && Bun.which("initdb")) return { initdb: Bun.which("initdb")!, pgCtl: onPath };
    const root = "/usr/lib/postgresql";
    if (existsSync(root)) dirs.push(...readdirSync(root).sort((a, b) => Number(b) - Number(a)).map((v) => join(root, v, "bin")));
  }
  for (const dir of dirs) {
    if (existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl"))) return { initdb: join(dir, "initdb"), pgCtl: join(dir, "pg_ctl") };
  }
  throw new Error(`PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin): ${INSTALL}, or set DATABASE_URL to a running server`);
}

/** PostgreSQL refuses to run as root: as root, it runs as the `postgres` user the package creates. */
const asRoot = process.getuid?.() === 0;
const asServerUser = (command: string[]) => (asRoot ? ["runuser", "-u", "postgres", "--", ...command] : command);

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (asRoot) run(["chown", "postgres:postgres", dir], "chown");
  return dir;
}

let template: string | undefined;
/** One initdb per test process (the slow part); each server starts from a copy. */
function templateCluster(): string {
  if (template) return template;
  const { initdb } = postgresBinaries();
  const dir = tempDir("chat-pg-template-");
  cleanups.add(() => rmSync(dir, { recursive: true, force: true }));
  run(asServerUser([initdb, "-D", join(dir, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]), "initdb");
  template = join(dir, "data");
  return template;
}

export type PostgresServer = {
  /** The server's `postgres` database as user postgres (trust auth). */
  url: string;
  port: number;
  /** Fast shutdown (connections are closed); the port refuses connections until start(). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
};

export async function startPostgres(): Promise<PostgresServer> {
  const { pgCtl } = postgresBinaries();
  const from = templateCluster();
  const dir = tempDir("chat-pg-");
  const data = join(dir, "data");
  run(asServerUser(["cp", "-a", from, data]), "copying the template cluster");
  const port = freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const ctl = (...args: string[]) => runInBackground(asServerUser([pgCtl, "-D", data, ...args]), `pg_ctl ${args[0]}`);
  let running = false;
  const server: PostgresServer = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async start() {
      await ctl("start", "-w", "-t", "30", "-l", join(dir, "log"), "-o", options);
      running = true;
    },
    async stop() {
      if (!running) return;
      running = false;
      await ctl("stop", "-w", "-m", "fast");
    },
    async destroy() {
      cleanup();
      cleanups.delete(cleanup);
    },
  };
  const cleanup = () => {
    if (running) {
      const [command, ...args] = asServerUser([pgCtl, "-D", data, "stop", "-m", "immediate"]);
      spawnSync(command!, args);
    }
    running = false;
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.add(cleanup);
  await server.start();
  return server;
}

let shared: Promise<string> | undefined;
/**
 * The Postgres server of tests that need a real one: DATABASE_URL's or CI_DATABASE_URL's when set
 * (CI's real-service mode), else one this test process starts at its first use and shares.
 */
export function postgresServer(): Promise<string> {
  const given = process.env.DATABASE_URL ?? process.env.CI_DATABASE_URL;
  if (given) return Promise.resolve(given);
  shared ??= startPostgres().then((s) => s.url);
  return shared;
}

// ---------------------------------------------------------------------------------------------
// Redis

export type RedisServer = {
  url: string;
  port: number;
  /** Stops it (SIGTERM, nothing saved): connections drop, the port refuses until start(). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  destroy(): Promise<void>;
};

export async function startRedis(): Promise<RedisServer> {
  const binary = process.env.REDIS_SERVER_BIN ?? Bun.which("redis-server") ?? (existsSync("/usr/bin/redis-server") ? "/usr/bin/redis-server" : undefined);
  if (!binary || !existsSync(binary)) throw new Error(`Redis is not installed (no redis-server on PATH): ${INSTALL}, or set REDIS_URL to a running server`);
  const port = freePort();
  const dir = mkdtempSync(join(tmpdir(), "chat-redis-"));
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      const log = join(dir, "log");
      proc = Bun.spawn([binary, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", log], { stdout: "ignore", stderr: "ignore" });
      const end = Date.now() + 10_000;
      for (;;) {
        try {
          const probe = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
          probe.end();
          return;
        } catch {}
        if (proc.exitCode !== null || Date.now() > end) throw new Error(`redis-server did not start on port ${port}:\n${existsSync(log) ? readFileSync(log, "utf8") : ""}`);
        await Bun.sleep(20);
      }
    },
    async stop() {
      const stopping = proc;
      proc = undefined;
      if (!stopping) return;
      stopping.kill("SIGTERM");
      await stopping.exited;
    },
    async destroy() {
      await server.stop();
      cleanup();
      cleanups.delete(cleanup);
    },
  };
  const cleanup = () => {
    proc?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.add(cleanup);
  await server.start();
  return server;
}

let sharedRedis: Promise<string> | undefined;
/** REDIS_URL when set, else a Redis server this test process starts at its first use and shares. */
export function redisServer(): Promise<string> {
  if (process.env.REDIS_URL) return Promise.resolve(process.env.REDIS_URL);
  sharedRedis ??= startRedis().then((s) => s.url);
  return sharedRedis;
}
