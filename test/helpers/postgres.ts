/**
 * Fresh databases on a real Postgres server: one per service when the suite runs on Postgres, and
 * shared ones for tests that need several instances (or a second connection) on one database
 * whatever the mode (an embedded PGlite belongs to one process).
 */
import postgres from "postgres";
import { postgresServer } from "./servers";

/** A connection to the server itself, to create or drop a database. */
const admin = (server: string) => postgres(server, { max: 1, onnotice: () => {}, connect_timeout: 5 });

/** A new, empty database on `server`, and how to drop it. */
export async function createDatabase(server: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `chat_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const creator = admin(server);
  try {
    await creator.unsafe(`create database "${name}"`);
  } finally {
    await creator.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const dropper = admin(server);
      try {
        await dropper.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

export type SharedDatabase = {
  url: string;
  /** A client of its own, to look at rows while no instance is running. */
  sql: postgres.Sql;
  drop(): Promise<void>;
};

export async function sharedDatabase(): Promise<SharedDatabase> {
  const database = await createDatabase(await postgresServer());
  const sql = postgres(database.url, { max: 2, onnotice: () => {} });
  return {
    url: database.url,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      await database.drop();
    },
  };
}
