import { PgTransaction } from "drizzle-orm/pg-core";
import type { Database, Executor } from "./client";

/**
 * Prepared statements for hot paths (a page of messages, a membership check, unread counts).
 * Building a query with drizzle's builder costs more CPU than running it; a prepared statement is
 * built once per database and only bound afterwards. They belong to the pool, so inside a
 * transaction this returns undefined and the caller builds the query on the transaction.
 */
export function preparedStatements<T>(build: (db: Database) => T): (db: Executor) => T | undefined {
  const cache = new WeakMap<object, T>();
  return (db) => {
    if (db instanceof PgTransaction) return undefined;
    let statements = cache.get(db);
    if (!statements) cache.set(db, (statements = build(db as Database)));
    return statements;
  };
}
