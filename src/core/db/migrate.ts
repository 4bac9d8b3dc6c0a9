import { createHash } from "node:crypto";
import { journal, migrationSql } from "../../../drizzle/migrations";
import { sql } from "drizzle-orm";
import { type Executor, queryRows, type Storage } from "./client";

/** Any constant; every instance takes the same advisory lock before migrating. */
const MIGRATION_LOCK_KEY = 7_202_611;

type MigrationMeta = { sql: string[]; bps: boolean; folderMillis: number; hash: string };

/** drizzle's readMigrationFiles, from the embedded copies instead of the drizzle/ folder. */
function embeddedMigrations(): MigrationMeta[] {
  return journal.entries.map((entry) => {
    const query = migrationSql[entry.tag];
    if (query === undefined) throw new Error(`migration ${entry.tag} is in the journal but not embedded; run bun run db:generate`);
    return {
      sql: query.split("--> statement-breakpoint"),
      bps: entry.breakpoints,
      folderMillis: entry.when,
      hash: createHash("sha256").update(query).digest("hex"),
    };
  });
}

type Migrator = { dialect: { migrate(m: MigrationMeta[], session: unknown, config: object): Promise<void> }; session: unknown };

/** Applies pending migrations; safe when several instances start at once. Returns how many ran. */
export async function migrate(storage: Storage): Promise<number> {
  const migrations = embeddedMigrations();
  return storage.withLock(MIGRATION_LOCK_KEY, async (db) => {
    const before = await appliedCount(db);
    const internals = db as unknown as Migrator;
    await internals.dialect.migrate(migrations, internals.session, { migrationsFolder: "(embedded)" });
    return (await appliedCount(db)) - before;
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
