import { type SQL, sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { PGlite, Transaction as PGliteTransaction } from "@electric-sql/pglite";
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
  /** Runs `fn` in one transaction holding an advisory lock (migrations on several instances). */
  withLock<T>(key: number, fn: (db: Executor) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  /**
   * One statement of plain SQL with `$n` parameters, prepared by the driver, outside any
   * transaction: for hot reads whose whole answer one statement builds (drizzle's builder and row
   * mapping cost more than such a statement's round trip).
   */
  query<T>(text: string, params: unknown[]): Promise<T[]>;
  /**
   * The same, with one plan per connection that is never made again for the values given: for a
   * statement whose best plan does not depend on them (a page of messages). PostgreSQL otherwise
   * comes, once its tables are large, to plan it at every run: at 10 M messages a kept page took
   * 1.15 ms planned each time and 0.40 ms with a kept plan. On connections of their own (a plan's mode is a
   * setting of the connection): a quarter of DATABASE_POOL_SIZE, taken from the rest. The
   * embedded database, a pool of fewer than four and a transaction-mode pooler (no prepared
   * statements) run it as `query`.
   */
  queryPlanned<T>(text: string, params: unknown[]): Promise<T[]>;
  /**
   * The same inside the caller's transaction. drizzle sends each query of its own unnamed, so the
   * server parses it on every call (1 ms of the send statement's 4.5 for one message). Prepared,
   * it is parsed once per connection, and still planned for the values it is given. Rows come as
   * drizzle's own would: timestamps as the server's text.
   */
  queryIn<T>(tx: Transaction, text: string, params: unknown[]): Promise<T[]>;
  close(): Promise<void>;
  /** Connections in use and idle, for metrics (PGlite has one). */
  poolStats(): { size: number };
  /** PGlite only: analyzes the tables that grew since their last ANALYZE (a timer does it too); answers their names. */
  analyzeGrown?: () => Promise<string[]>;
  /** PGlite only: the data directory as a tarball (a seed for openStorage). */
  dump?: () => Promise<Blob>;
};

export type StorageOptions = { pgliteSeed?: Blob };

export async function openStorage(config: Config, log: Logger, options: StorageOptions = {}): Promise<Storage> {
  if (config.DATABASE_URL) return openPostgres(config, config.DATABASE_URL, log);
  const client = await openPglite(config.DATA_DIR, options.pgliteSeed);
  log.info("embedded database", { driver: "pglite", dataDir: config.DATA_DIR });
  const db = drizzlePglite(client);
  const analyzer = setInterval(() => void analyzeGrownTables(client, log), AUTOANALYZE_INTERVAL_MS);
  analyzer.unref();
  const query = async <T>(text: string, params: unknown[]) => (await client.query<T>(text, params)).rows;
  let lockChain: Promise<unknown> = Promise.resolve();
  return {
    db,
    driver: "pglite",
    // One process owns a PGlite data directory: a promise chain is lock enough.
    withLock<T>(_key: number, fn: (db: Executor) => Promise<T>): Promise<T> {
      const run = lockChain.then(() => db.transaction((tx) => fn(tx)));
      lockChain = run.catch(() => {});
      return run;
    },
    ping: async () => {
      await client.query("select 1");
    },
    query,
    // One connection: it plans page reads as it plans the rest.
    queryPlanned: query,
    queryIn: async <T>(tx: Transaction, text: string, params: unknown[]) =>
      (await sessionClient<PGliteTransaction>(tx).query<T>(text, params, { parsers: TEXT_TIMESTAMPS })).rows,
    close: () => {
      clearInterval(analyzer);
      return client.close();
    },
    poolStats: () => ({ size: 1 }),
    analyzeGrown: () => analyzeGrownTables(client, log),
    dump: () => client.dumpDataDir("none"),
  };
}

/** The driver's own transaction under a drizzle one (drizzle keeps it on its session, untyped). */
const sessionClient = <T>(tx: Transaction) => (tx._.session as unknown as { client: T }).client;

/** Timestamps as the server's text, as drizzle's PGlite session reads them. */
const TEXT_TIMESTAMPS = Object.fromEntries([1082, 1083, 1114, 1184, 1115, 1182, 1185, 1186, 1231].map((oid) => [oid, (value: string) => value]));

const AUTOANALYZE_INTERVAL_MS = 30_000;

/**
 * PGlite runs Postgres in single-user mode: no autovacuum worker, and no activity counters to
 * tell one which tables changed. Without fresh statistics the planner kept its first idea of a
 * table (empty), and searched a grown conversation by scanning it rather than by the word index.
 * A table whose size on disk outgrew what its last ANALYZE saw by a tenth is analyzed again, as
 * autovacuum would: ANALYZE samples, so it stays quick however large the table.
 */
async function analyzeGrownTables(client: PGlite, log: Logger): Promise<string[]> {
  try {
    const { rows } = await client.query<{ name: string }>(
      `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'r'
         and pg_relation_size(c.oid) / current_setting('block_size')::int > c.relpages * 1.1 + 8`,
    );
    for (const { name } of rows) await client.exec(`analyze "${name.replaceAll('"', '""')}"`);
    if (rows.length) log.debug("embedded database analyzed", { tables: rows.map((r) => r.name) });
    return rows.map((r) => r.name);
  } catch (error) {
    log.warn("embedded database: analyze failed", { error });
    return [];
  }
}

function drizzlePglite(client: PGlite): Database {
  return drizzlePgliteDriver(client, { schema }) as unknown as Database;
}

function openPostgres(config: Config, url: string, log: Logger): Storage {
  const max = config.DATABASE_POOL_SIZE;
  // A transaction-mode pooler gives each transaction (or lone statement) whichever server
  // connection is free: a statement prepared on one is unknown on the next, and it refuses startup
  // parameters beyond a few (application_name is one of them).
  const pooled = config.DATABASE_POOLER === "transaction";
  // Page reads get a quarter of the connections (see Storage.queryPlanned), unless no statement is
  // prepared or the pool is too small to spare one (the rest would be left fewer than three).
  const plannedMax = pooled || max < 4 ? 0 : Math.floor(max / 4);
  const options = (size: number, settings: Record<string, string | number> = {}) => ({
    max: size,
    onnotice: () => {},
    prepare: !pooled,
    // While the server is down, a query waits for the pool's next connection attempt before it
    // fails (503). postgres.js spaces attempts up to 20 s apart, so requests took seconds to be
    // refused and the service up to 20 s to notice the server was back: at most 1 s here.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    // A server that does not answer at all (a partition) fails a connection after 5 s, not 30.
    connect_timeout: 5,
    // Sent at connect: no request waits forever behind a stuck lock or query. (The migration
    // connection below has neither: it waits for other instances' migrations, however long.)
    connection: pooled
      ? { application_name: "chat-service" }
      : { application_name: "chat-service", statement_timeout: config.DATABASE_STATEMENT_TIMEOUT_MS, lock_timeout: config.DATABASE_LOCK_TIMEOUT_MS, ...settings },
  });
  const pool = postgres(url, options(max - plannedMax));
  const planned = plannedMax ? postgres(url, options(plannedMax, { plan_cache_mode: "force_generic_plan" })) : pool;
  const statementOn =
    (client: postgres.Sql) =>
    async <T>(text: string, params: unknown[]) =>
      (await client.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: !pooled })) as unknown as T[];
  const db = drizzlePostgres(pool, { schema }) as unknown as Database;
  log.info("database", { driver: "postgres", host: safeHost(url), poolSize: max, pooler: config.DATABASE_POOLER });
  if (pooled) void warnOnServerTimeouts(pool, config, log);
  return {
    db,
    driver: "postgres",
    async withLock(key, fn) {
      // A lock of the transaction, not of the session, and the work in that same transaction: a
      // session lock would not do behind a transaction-mode pooler (the server connection that
      // took it goes back to the pool still holding it, and the next migration waits forever).
      const single = postgres(url, { max: 1, onnotice: () => {}, prepare: !pooled });
      try {
        const db = drizzlePostgres(single, { schema }) as unknown as Database;
        return await db.transaction(async (tx) => {
          // Other instances' migrations may take long, and so may ours: no timeout, whatever the
          // role's (how timeouts are set behind a pooler).
          await tx.execute(sql`set local lock_timeout = 0`);
          await tx.execute(sql`set local statement_timeout = 0`);
          await tx.execute(sql`select pg_advisory_xact_lock(${key})`);
          return fn(tx);
        });
      } finally {
        await single.end({ timeout: 5 });
      }
    },
    ping: async () => {
      await pool`select 1`;
    },
    query: statementOn(pool),
    queryPlanned: statementOn(planned),
    // drizzle set the pool's timestamp parsers to keep the server's text; its transactions share them.
    queryIn: async <T>(tx: Transaction, text: string, params: unknown[]) =>
      (await sessionClient<postgres.TransactionSql>(tx).unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: !pooled })) as unknown as T[],
    close: async () => {
      await Promise.all([pool.end({ timeout: 5 }), planned === pool ? undefined : planned.end({ timeout: 5 })]);
    },
    poolStats: () => ({ size: max }),
  };
}

/**
 * Behind a transaction-mode pooler the timeouts cannot be sent at connect: they come from the
 * server (`ALTER ROLE … SET statement_timeout = …`). Says so when they differ from the config.
 */
async function warnOnServerTimeouts(pool: postgres.Sql, config: Config, log: Logger) {
  try {
    const rows = await pool<{ name: string; setting: string }[]>`select name, setting from pg_settings where name in ('statement_timeout', 'lock_timeout')`;
    const server = Object.fromEntries(rows.map((r) => [r.name, Number(r.setting)]));
    const configured = { statement_timeout: config.DATABASE_STATEMENT_TIMEOUT_MS, lock_timeout: config.DATABASE_LOCK_TIMEOUT_MS };
    if (server.statement_timeout !== configured.statement_timeout || server.lock_timeout !== configured.lock_timeout) {
      log.warn("database timeouts differ from DATABASE_STATEMENT_TIMEOUT_MS/DATABASE_LOCK_TIMEOUT_MS: behind a transaction-mode pooler they come from the server; set them on the role (ALTER ROLE … SET statement_timeout = …, lock_timeout = …)", {
        server,
        configured,
      });
    }
  } catch (error) {
    log.warn("could not read the database's timeouts", { error });
  }
}

function safeHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return "unparseable";
  }
}
