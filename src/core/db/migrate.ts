import { createHash } from "node:crypto";
import { journal, migrationSql } from "../../../drizzle/migrations";
import { sql } from "drizzle-orm";
import { type Executor, queryRows, type Storage } from "./client";

/** Any constant; every instance takes the same advisory lock before migrating. */
const MIGRATION_LOCK_KEY = 7_202_611;

type Migration = { statements: string[]; folderMillis: number; hash: string };

/** The embedded migration files, as drizzle's readMigrationFiles reads them from drizzle/. */
function embeddedMigrations(): Migration[] {
  return journal.entries.map((entry) => {
    const query = migrationSql[entry.tag];
    if (query === undefined) throw new Error(`migration ${entry.tag} is in the journal but not embedded; run bun run db:generate`);
    return {
      statements: query.split("--> statement-breakpoint"),
      folderMillis: entry.when,
      hash: createHash("sha256").update(query).digest("hex"),
    };
  });
}

/**
 * Applies pending migrations; safe when several instances start at once. Returns how many ran.
 * It keeps drizzle's bookkeeping (drizzle.__drizzle_migrations, a migration is pending when it is
 * newer than the newest recorded), but runs in the transaction that holds the lock: the lock,
 * the migrations and their records commit together, through a transaction-mode pooler too.
 */
export async function migrate(storage: Storage): Promise<number> {
  const migrations = embeddedMigrations();
  return storage.withLock(MIGRATION_LOCK_KEY, async (db) => {
    await db.execute(sql`create schema if not exists drizzle`);
    await db.execute(sql`create table if not exists drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)`);
    const [last] = await queryRows<{ created_at: string | null }>(db, sql`select created_at from drizzle.__drizzle_migrations order by created_at desc limit 1`);
    const pending = migrations.filter((m) => !last || Number(last.created_at) < m.folderMillis);
    for (const migration of pending) {
      for (const statement of migration.statements) await db.execute(sql.raw(statement));
      await db.execute(sql`insert into drizzle.__drizzle_migrations (hash, created_at) values (${migration.hash}, ${migration.folderMillis})`);
    }
    return pending.length;
  });
}

/** Migrations recorded in the database (0 before the first run created drizzle's table). */
export async function appliedCount(db: Executor): Promise<number> {
  const [table] = await queryRows<{ name: string | null }>(db, sql`select to_regclass('drizzle.__drizzle_migrations')::text as name`);
  if (!table?.name) return 0;
  const [row] = await queryRows<{ n: number }>(db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
  return row?.n ?? 0;
}

export const migrationCount = () => journal.entries.length;
