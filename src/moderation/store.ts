import { and, eq, gt, inArray, isNull, or, sql } from "drizzle-orm";
import type { Executor } from "../core/db/client";
import { queryRows } from "../core/db/client";
import { conversationBans, type ConversationRow, userBlocks } from "../core/db/schema";
import { forbidden } from "../core/errors";

/*
 * The moderation tables' queries for other features: who blocks whom. Each is one indexed lookup,
 * and none runs for a group conversation where only direct ones are concerned.
 */

/** The other side of a direct conversation (its key is the pair's two ids, sorted, space separated). */
export const otherSideOf = (conversation: Pick<ConversationRow, "directKey">, userId: string): string | undefined =>
  conversation.directKey?.split(" ").find((id) => id !== userId);

export async function isBlocked(db: Executor, blockerId: string, blockedId: string): Promise<boolean> {
  const [row] = await db
    .select({ at: userBlocks.createdAt })
    .from(userBlocks)
    .where(and(eq(userBlocks.blockerId, blockerId), eq(userBlocks.blockedId, blockedId)))
    .limit(1);
  return row !== undefined;
}

/**
 * Refuses (403) an action of `userId` in a direct conversation whose other side blocks them. The
 * message says no more than that the action is not allowed: the block itself is not told.
 */
export async function requireNotBlockedInDirect(db: Executor, m: { conversation: Pick<ConversationRow, "type" | "directKey"> }, userId: string, action: string): Promise<void> {
  if (m.conversation.type !== "direct") return;
  const other = otherSideOf(m.conversation, userId);
  if (other && (await isBlocked(db, other, userId))) throw forbidden(`You cannot ${action} in this conversation`);
}

/** Refuses (403) to put `actorId` in a conversation with any of `userIds` that blocks them. */
export async function requireNoBlockers(db: Executor, actorId: string, userIds: string[], refusal: string): Promise<void> {
  const blockers = await blockersOf(db, actorId, userIds.filter((id) => id !== actorId));
  if (blockers.size) throw forbidden(refusal);
}

/** Which of `userIds` block `blockedId`, with when they did. */
export async function blockersOf(db: Executor, blockedId: string, userIds: string[]): Promise<Map<string, Date>> {
  if (userIds.length === 0) return new Map();
  const rows = await db
    .select({ blockerId: userBlocks.blockerId, at: userBlocks.createdAt })
    .from(userBlocks)
    .where(and(eq(userBlocks.blockedId, blockedId), inArray(userBlocks.blockerId, userIds)));
  return new Map(rows.map((r) => [r.blockerId, r.at]));
}

/** For each of `blockerIds` that blocks anyone, whom. */
export async function blockedBy(db: Executor, blockerIds: string[]): Promise<Map<string, string[]>> {
  if (blockerIds.length === 0) return new Map();
  const rows = await db
    .select({ blockerId: userBlocks.blockerId, blockedId: userBlocks.blockedId })
    .from(userBlocks)
    .where(inArray(userBlocks.blockerId, blockerIds));
  const map = new Map<string, string[]>();
  for (const { blockerId, blockedId } of rows) map.set(blockerId, [...(map.get(blockerId) ?? []), blockedId]);
  return map;
}

/**
 * Between `userId` and the other side of a direct conversation: whether the other blocks them
 * (`blockedByOther`) and whether they block the other (`blocksOther`). A group, or a conversation
 * that does not exist, answers both false. One round trip, by primary key.
 */
export async function directBlocks(db: Executor, conversationId: string, userId: string): Promise<{ blockedByOther: boolean; blocksOther: boolean }> {
  const [row] = await queryRows<{ blocked_by_other: boolean; blocks_other: boolean }>(
    db,
    sql`
    select
      exists (select 1 from user_blocks b where b.blocked_id = ${userId}
        and b.blocker_id in (split_part(c.direct_key, ' ', 1), split_part(c.direct_key, ' ', 2))) as blocked_by_other,
      exists (select 1 from user_blocks b where b.blocker_id = ${userId}
        and b.blocked_id in (split_part(c.direct_key, ' ', 1), split_part(c.direct_key, ' ', 2))) as blocks_other
    from conversations c where c.id = ${conversationId} and c.type = 'direct'`,
  );
  return { blockedByOther: row?.blocked_by_other ?? false, blocksOther: row?.blocks_other ?? false };
}

/** A ban in force: without an end, or ending later than now (the database's clock). */
export const banInForce = or(isNull(conversationBans.until), gt(conversationBans.until, sql`now()`));

/** Which of `userIds` are banned from the conversation now. */
export async function bannedAmong(db: Executor, conversationId: string, userIds: string[]): Promise<string[]> {
  if (userIds.length === 0) return [];
  const rows = await db
    .select({ userId: conversationBans.userId })
    .from(conversationBans)
    .where(and(eq(conversationBans.conversationId, conversationId), inArray(conversationBans.userId, userIds), banInForce));
  return rows.map((r) => r.userId);
}
