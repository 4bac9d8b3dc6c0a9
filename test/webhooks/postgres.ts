/**
 * Several instances sharing one outbox need a real Postgres server, whatever mode the suite runs
 * in (an embedded PGlite belongs to one process). A fresh database on the suite's server, on
 * CI_DATABASE_URL's, or on the local one; an unreachable server fails the test.
 */
import postgres from "postgres";

const serverUrl = () => process.env.DATABASE_URL ?? process.env.CI_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export type SharedDatabase = {
  url: string;
  /** A client of its own, to look at rows while no instance is running. */
  sql: postgres.Sql;
  drop(): Promise<void>;
};

export async function sharedDatabase(): Promise<SharedDatabase> {
  const base = serverUrl();
  const name = `chat_wh_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(base, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  const sql = postgres(url.toString(), { max: 2, onnotice: () => {} });
  return {
    url: url.toString(),
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      const a = postgres(base, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}
