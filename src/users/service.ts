import { inArray, sql } from "drizzle-orm";
import type { Context } from "../core/context";
import { type UserRow, userErasures, users } from "../core/db/schema";
import { byExternalId, usersInLockOrder } from "../core/db/lock-order";
import type { Transaction } from "../core/db/client";
import { type AfterCommit, withTransaction } from "../core/db/transaction";
import { AppError, invalid, notFound } from "../core/errors";
import { isSuspended } from "../core/auth";
import { checkMetadata, checkStorable, futureTime, iso } from "../core/schemas";
import { removeUserEverywhere } from "../conversations/participants";
import type { SuspendUser, TokenRevocation, User, UserSync } from "./model";
import { activeUser } from "./store";

export function toUser(row: UserRow): User {
  return {
    externalUserId: row.externalId,
    name: row.name,
    avatarUrl: row.avatarUrl,
    metadata: row.metadata,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    ...(isSuspended(row) ? { suspended: true, suspendedUntil: iso(row.suspendedUntil) } : { suspended: false, suspendedUntil: null }),
  };
}

/** Seeds the hash of the per-id sync locks, so they do not share keys with other advisory locks. */
const SYNC_LOCK_SEED = 7_345_112;

/**
 * Upserts users, all or nothing. Fields left out keep their stored value; `null` clears them.
 * A deleted user synced again is restored and counts as created (it was gone to the API).
 * An entry whose `version` is not above the stored one is stale: it changes nothing, answers the
 * stored user, or nothing when that user is deleted, and counts as stale.
 */
export async function syncUsers(
  ctx: Context,
  inputs: UserSync[],
  /** Where entry `index` sits in the request body, for error details. */
  entryPath: (index: number) => string = (index) => `/users/${index}`,
): Promise<{ data: User[]; created: number; updated: number; stale: number }> {
  const seen = new Map<string, number>();
  inputs.forEach((input, index) => {
    checkEntry(input, entryPath(index));
    const first = seen.get(input.externalUserId);
    if (first !== undefined) {
      throw invalid(`externalUserId ${input.externalUserId} appears twice in the batch`, [
        { path: `/users/${index}/externalUserId`, message: `duplicate of entry ${first}`, index },
      ]);
    }
    seen.set(input.externalUserId, index);
  });

  // Through withTransaction, like every write: a graceful stop waits for it.
  return withTransaction(ctx, async (tx) => {
    const ids = inputs.map((u) => u.externalUserId);
    // Row locks cannot cover a user not stored yet: two syncs of a new user would both read
    // nothing, both insert, and the later upsert would win whatever its version. A lock on each
    // id's hash, taken in hash order (so no two batches wait on each other in a cycle), makes them
    // take turns; the later one then reads the row the first stored.
    await tx.execute(sql`select pg_advisory_xact_lock(k) from (select distinct hashtextextended(id, ${SYNC_LOCK_SEED}) as k from unnest(array[${sql.join(ids.map((id) => sql`${id}`), sql`, `)}]::text[]) as id) ids order by k`);
    // Existing rows here, new ones by the upsert: both in the one order users are locked in.
    const existing = new Map(
      (await tx.select().from(users).where(inArray(users.externalId, ids)).orderBy(usersInLockOrder).for("update")).map((row) => [row.externalId, row]),
    );
    // An erase in progress would go on to erase what a restored user writes: the host syncs again
    // once `user.erased` has come. Read after the row locks: an erase committing meanwhile is seen.
    const erasing = await tx.select({ userId: userErasures.userId }).from(userErasures).where(inArray(userErasures.userId, ids));
    if (erasing.length) {
      const userIds = erasing.map((e) => e.userId);
      throw new AppError("CONFLICT", `An erase of ${userIds.slice(0, 5).join(", ")} is in progress; sync again after user.erased`, { userIds });
    }
    const isStale = (input: UserSync) => {
      const stored = existing.get(input.externalUserId)?.syncVersion;
      return input.version !== undefined && stored != null && input.version <= stored;
    };
    const applied = inputs.filter((input) => !isStale(input));
    const now = new Date();
    const inOrder = [...applied].sort((a, b) => byExternalId(a.externalUserId, b.externalUserId));
    const values = inOrder.map((input) => {
      const before = existing.get(input.externalUserId);
      return {
        externalId: input.externalUserId,
        name: input.name !== undefined ? input.name : (before?.name ?? null),
        avatarUrl: input.avatarUrl !== undefined ? input.avatarUrl : (before?.avatarUrl ?? null),
        metadata: input.metadata ?? before?.metadata ?? {},
        // A sync without a version keeps the stored one: later versioned syncs still compare against it.
        syncVersion: input.version ?? before?.syncVersion ?? null,
        createdAt: before && !before.deletedAt ? before.createdAt : now,
        updatedAt: now,
        deletedAt: null,
      };
    });
    const rows =
      values.length === 0
        ? []
        : await tx
            .insert(users)
            .values(values)
            .onConflictDoUpdate({
              target: users.externalId,
              set: {
                name: sql`excluded.name`,
                avatarUrl: sql`excluded.avatar_url`,
                metadata: sql`excluded.metadata`,
                syncVersion: sql`excluded.sync_version`,
                createdAt: sql`excluded.created_at`,
                updatedAt: sql`excluded.updated_at`,
                deletedAt: sql`null`,
              },
            })
            .returning();
    const byId = new Map([...existing, ...rows.map((r) => [r.externalId, r] as const)]);
    const live = ids.map((id) => byId.get(id)!).filter((row) => row.deletedAt === null);
    const created = applied.filter((u) => {
      const before = existing.get(u.externalUserId);
      return !before || before.deletedAt !== null;
    }).length;
    const stale = inputs.length - applied.length;
    return { data: live.map(toUser), created, updated: applied.length - created, stale };
  });
}

/** Checks TypeBox cannot express; in a batch the path names the entry, so its details carry the index as a schema failure's do. */
function checkEntry(input: UserSync, at: string): void {
  checkMetadata(input.metadata, `${at}/metadata`.slice(1));
  checkStorable(input.name, `${at}/name`);
  checkStorable(input.avatarUrl, `${at}/avatarUrl`);
}

/** One user: the body is the entry itself, so error paths start at its fields. */
export async function syncUser(ctx: Context, input: UserSync): Promise<{ user: User; created: boolean }> {
  const { data, created } = await syncUsers(ctx, [input], () => "");
  // Only a stale sync of a deleted user answers no user.
  if (data.length === 0) throw notFound("User");
  return { user: data[0]!, created: created === 1 };
}

export async function getUser(ctx: Context, externalUserId: string): Promise<User> {
  const [row] = await ctx.db
    .select()
    .from(users)
    .where(activeUser(externalUserId));
  if (!row) throw notFound("User");
  return toUser(row);
}

/** How far ahead a revocation mark may be set: tokens a host is about to issue, not more. */
const MAX_REVOCATION_AHEAD_S = 86_400;

/**
 * Refuses the user's tokens issued at or before `before` (Unix seconds, default now), and those
 * without `iat`, from now on: REST reads the mark at every call, and the user's sockets holding
 * such a token are told and disconnected on every instance. A revocation never narrows an earlier
 * one: the mark only moves forward, and the answer gives the mark in force.
 */
export async function revokeTokens(ctx: Context, externalUserId: string, before = Math.floor(Date.now() / 1000)): Promise<TokenRevocation> {
  // The mark never moves back, so a mistyped far-future `before` would lock the user out for good.
  if (before > Math.floor(Date.now() / 1000) + MAX_REVOCATION_AHEAD_S) {
    throw invalid("before may be at most one day ahead of now", [{ path: "/before", message: "too far in the future" }]);
  }
  return withTransaction(ctx, async (tx, after) => {
    const [row] = await tx
      .update(users)
      .set({ revokedBefore: sql`greatest(${users.revokedBefore}, ${before})` })
      .where(activeUser(externalUserId))
      .returning({ revokedBefore: users.revokedBefore });
    if (!row) throw notFound("User");
    const revokedBefore = row.revokedBefore!;
    after(() => ctx.fanout.disconnectRevoked(externalUserId, revokedBefore));
    return { userId: externalUserId, revokedBefore };
  });
}

/**
 * Suspends a user until `until` (or until lifted): authentication refuses their every REST call
 * and connect with FORBIDDEN from the commit on, reading the mark with the user row it loads
 * anyway, and their live sockets are told and disconnected on every instance. Memberships and
 * messages stay. Suspending again replaces the end and the reason.
 */
export async function suspendUser(ctx: Context, externalUserId: string, input: SuspendUser): Promise<User> {
  const until = input.until === undefined ? null : futureTime(input.until, "/until");
  checkStorable(input.reason, "/reason");
  return withTransaction(ctx, async (tx, after) => {
    const [row] = await tx
      .update(users)
      .set({ suspended: true, suspendedUntil: until, suspensionReason: input.reason ?? null, updatedAt: new Date() })
      .where(activeUser(externalUserId))
      .returning();
    if (!row) throw notFound("User");
    after(() => ctx.fanout.disconnectUser(externalUserId, { code: "FORBIDDEN", message: "User is suspended" }));
    return toUser(row);
  });
}

/** Lifts a suspension (also when there is none): the user's tokens work again at once. */
export async function unsuspendUser(ctx: Context, externalUserId: string): Promise<User> {
  return withTransaction(ctx, async (tx) => {
    const [row] = await tx
      .update(users)
      .set({ suspended: false, suspendedUntil: null, suspensionReason: null, updatedAt: new Date() })
      .where(activeUser(externalUserId))
      .returning();
    if (!row) throw notFound("User");
    return toUser(row);
  });
}

/**
 * Deletes a user as the contract says: their tokens stop working at once (authentication checks
 * deletedAt), they leave every conversation, their sockets are closed; their messages stay.
 */
export async function deleteUser(ctx: Context, externalUserId: string): Promise<void> {
  await withTransaction(ctx, async (tx, after) => {
    if (!(await deleteUserIn(ctx, tx, after, externalUserId))) throw notFound("User");
  });
}

/** deleteUser's change, in the caller's transaction; false when the user is not active. */
export async function deleteUserIn(ctx: Context, tx: Transaction, after: AfterCommit, externalUserId: string): Promise<boolean> {
  const [row] = await tx
    .update(users)
    .set({ deletedAt: new Date(), updatedAt: new Date() })
    .where(activeUser(externalUserId))
    .returning({ id: users.externalId });
  if (!row) return false;
  await removeUserEverywhere(ctx, tx, after, externalUserId);
  after(() => ctx.fanout.disconnectUser(externalUserId));
  return true;
}
