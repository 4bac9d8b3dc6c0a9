import { and, eq, gt, inArray, isNull, type SQL, sql } from "drizzle-orm";
import type { Executor } from "../core/db/client";
import { participants, userBlocks, users } from "../core/db/schema";

/** What presence reads of a user from the database: when last seen, and when they blocked the viewer. */
export type SeenRow = { userId: string; lastSeenAt: Date | null; blockedAt: Date | null };

/**
 * When `user` blocked the viewer (null: not blocked). A subquery by key, not a join: a join's plan
 * follows the tables' statistics, and on tables not yet analyzed (a new deployment's first hour)
 * PostgreSQL chose to read a whole table for every call.
 */
const blockedViewerAt = (user: SQL, viewerId: string) =>
  sql`(select b.created_at from ${userBlocks} b where b.blocker_id = ${user} and b.blocked_id = ${viewerId})`.mapWith(userBlocks.createdAt);

/**
 * Each of `userIds` that is synced and not deleted (a deleted user reads as never seen, like an id
 * nobody synced: no read tells which ids existed), with when they blocked the viewer.
 */
export function usersSeen(db: Executor, userIds: string[], viewerId: string): Promise<SeenRow[]> {
  return db
    .select({ userId: users.externalId, lastSeenAt: users.lastSeenAt, blockedAt: blockedViewerAt(sql.raw(`"users"."external_id"`), viewerId) })
    .from(users)
    .where(and(inArray(users.externalId, userIds), isNull(users.deletedAt)));
}

/** The outer row's user, named in full: drizzle writes a lone table's columns unqualified. */
const member = sql.raw(`"participants"."user_id"`);

/**
 * The participants of a conversation in user id order, the first `limit` after `afterUserId`, each
 * with when they were last seen and when they blocked the viewer: one statement for what was a
 * membership check, a member list, a lastSeen read and a block read, since every reconnecting
 * client asks it. No row when the viewer is not a participant.
 */
export function conversationMembersSeen(db: Executor, conversationId: string, viewerId: string, limit: number, afterUserId?: string): Promise<SeenRow[]> {
  return db
    .select({
      userId: participants.userId,
      lastSeenAt: sql`(select u.last_seen_at from ${users} u where u.external_id = ${member} and u.deleted_at is null)`.mapWith(users.lastSeenAt),
      blockedAt: blockedViewerAt(member, viewerId),
    })
    .from(participants)
    .where(
      and(
        eq(participants.conversationId, conversationId),
        afterUserId === undefined ? undefined : gt(participants.userId, afterUserId),
        sql`exists (select from ${participants} viewer where viewer.conversation_id = ${conversationId} and viewer.user_id = ${viewerId})`,
      ),
    )
    .orderBy(participants.userId)
    .limit(limit);
}
