import type { SQL } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePgliteDriver } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import type { Config } from "../../config";
import type { Logger } from "../log";
import { openPglite } from "./pglite";
import * as schema from "./schema";

export type Schema = typeof schema;
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];
/** Service functions take either, so that they can run alone or inside a caller's transaction. */
export type Executor = Database | Transaction;

/** Rows of a raw query, whichever driver ran it (postgres.js returns an array, PGlite `{ rows }`). */
export async function queryRows<T>(db: Executor, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as T[] | { rows: T[] };
  return Array.isArray(result) ? result : result.rows;
}

export type Storage = {
  db: Database;
  driver: "postgres" | "pglite";
  /** Runs `fn` on one connection holding a session advisory lock (migrations on several instances). */
  withLock<T>(key: number, fn: (db: Database) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /** Connections in use and idle, for metrics (PGlite has one). */
  poolStats(): { size: number };
  /** PGlite only: the data directory as a tarball (a seed for openStorage). */
  dump?: () => Promise<Blob>;
};

export type StorageOptions = { pgliteSeed?: Blob };

export async function openStorage(config: Config, log: Logger, options: StorageOptions = {}): Promise<Storage> {
  if (config.DATABASE_URL) return openPostgres(config, config.DATABASE_URL, log);
  const client = await openPglite(config.DATA_DIR, options.pgliteSeed);
  log.info("embedded database", { driver: "pglite", dataDir: config.DATA_DIR });
  const db = drizzlePglite(client);
  let lockChain: Promise<unknown> = Promise.resolve();
  return {
    db,
    driver: "pglite",
    // One process owns a PGlite data directory: a promise chain is lock enough.
    withLock<T>(_key: number, fn: (db: Database) => Promise<T>): Promise<T> {
      const run = lockChain.then(() => fn(db));
      lockChain = run.catch(() => {});
      return run;
    },
    ping: async () => {
      await client.query("select 1");
    },
    close: () => client.close(),
    poolStats: () => ({ size: 1 }),
    dump: () => client.dumpDataDir("none"),
  };
}

function drizzlePglite(client: PGlite): Database {
  return drizzlePgliteDriver(client, { schema }) as unknown as Database;
}

function openPostgres(config: Config, url: string, log: Logger): Storage {
  const max = config.DATABASE_POOL_SIZE;
  const sql = postgres(url, {
    max,
    onnotice: () => {},
    // While the server is down, a query waits for the pool's next connection attempt before it
    // fails (503). postgres.js spaces attempts up to 20 s apart, so requests took seconds to be
    // refused and the service up to 20 s to notice the server was back: at most 1 s here.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    // A server that does not answer at all (a partition) fails a connection after 5 s, not 30.
    connect_timeout: 5,
    // Sent at connect: no request waits forever behind a stuck lock or query. (The migration
    // connection below has neither: it waits for other instances' migrations, however long.)
    connection: {
      application_name: "chat-service",
      statement_timeout: config.DATABASE_STATEMENT_TIMEOUT_MS,
      lock_timeout: config.DATABASE_LOCK_TIMEOUT_MS,
    },
  });
  const db = drizzlePostgres(sql, { schema }) as unknown as Database;
  log.info("database", { driver: "postgres", host: safeHost(url), poolSize: max });
  return {
    db,
    driver: "postgres",
    async withLock(key, fn) {
      // A client of its own with one connection: the session lock and the work share it.
      const single = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await single`select pg_advisory_lock(${key})`;
        return await fn(drizzlePostgres(single, { schema }) as unknown as Database);
      } finally {
        await single.end({ timeout: 5 });
      }
    },
    ping: async () => {
      await sql`select 1`;
    },
    close: () => sql.end({ timeout: 5 }),
    poolStats: () => ({ size: max }),
  };
}

function safeHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return "unparseable";
  }
}
