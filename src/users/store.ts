import { and, eq, inArray, isNull, type Placeholder, sql } from "drizzle-orm";
import type { Executor } from "../core/db/client";
import { usersInLockOrder } from "../core/db/lock-order";
import { preparedStatements } from "../core/db/prepared";
import { users } from "../core/db/schema";

/**
 * The users table's queries for other features. A deleted user keeps their row (their messages
 * keep a sender; syncing them again restores it): "active" is synced and not deleted.
 */
const notDeleted = isNull(users.deletedAt);

/** What authentication needs of a user. */
export type AuthUser = { revokedBefore: number | null; suspended: boolean; suspendedUntil: Date | null };
export const activeUser = (externalId: string | Placeholder) => and(eq(users.externalId, externalId), notDeleted);

const activeQuery = (db: Executor, externalId: string | Placeholder) =>
  db
    .select({ revokedBefore: users.revokedBefore, suspended: users.suspended, suspendedUntil: users.suspendedUntil })
    .from(users)
    .where(activeUser(externalId))
    .limit(1);

const statements = preparedStatements((db) => ({
  active: activeQuery(db, sql.placeholder("id")).prepare("auth_user_exists"),
}));

/**
 * An active user, with the mark their tokens are revoked up to (Unix seconds) and their
 * suspension; undefined when not active. Every authenticated request asks, so it is never cached:
 * a revocation, a suspension or a deletion holds on every instance at once.
 */
export async function findActiveUser(db: Executor, externalId: string): Promise<AuthUser | undefined> {
  const prepared = statements(db);
  const [row] = prepared ? await prepared.active.execute({ id: externalId }) : await activeQuery(db, externalId);
  return row;
}

export async function isActiveUser(db: Executor, externalId: string): Promise<boolean> {
  return (await findActiveUser(db, externalId)) !== undefined;
}

/**
 * The users among `ids` that are active. With `share`, they stay share-locked until the
 * transaction ends, taken in the one order users are locked in: a deletion running at the same
 * time waits, then finds what this transaction did with them.
 */
export async function activeUserIds(db: Executor, ids: string[], opts: { share?: boolean } = {}): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const query = db
    .select({ id: users.externalId })
    .from(users)
    .where(and(inArray(users.externalId, ids), notDeleted))
    .orderBy(usersInLockOrder);
  const rows = opts.share ? await query.for("share") : await query;
  return new Set(rows.map((u) => u.id));
}
