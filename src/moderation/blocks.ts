import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import { userBlocks } from "../core/db/schema";
import { withTransaction } from "../core/db/transaction";
import { invalid, notFound } from "../core/errors";
import { type List, pageOf } from "../core/schemas";
import { activeUserIds } from "../users/store";
import { type Block, decodeUserIdCursor, encodeUserIdCursor, type UserIdPage } from "./model";

/*
 * A user's own blocks. Nothing is announced: the blocked user learns of a block only from the
 * refusals it causes (see README, Moderation). The rules live where each action is judged:
 * the send statement (messages/store.ts), edits, reactions, indicators, conversation creation
 * and additions, receipts' fan-out and presence.
 */

/** Blocks `userId`; blocking again changes nothing. */
export async function blockUser(ctx: Context, actor: Actor, userId: string): Promise<void> {
  if (userId === actor.userId) throw invalid("A user cannot block themself", [{ path: "/userId", message: "is the caller" }]);
  await withTransaction(ctx, async (tx) => {
    if (!(await activeUserIds(tx, [userId], { share: true })).has(userId)) throw notFound("User");
    await tx.insert(userBlocks).values({ blockerId: actor.userId, blockedId: userId }).onConflictDoNothing();
  });
}

/** Lifts a block; lifting one that is not there changes nothing. */
export async function unblockUser(ctx: Context, actor: Actor, userId: string): Promise<void> {
  await withTransaction(ctx, async (tx) => {
    await tx.delete(userBlocks).where(and(eq(userBlocks.blockerId, actor.userId), eq(userBlocks.blockedId, userId)));
  });
}

/** The caller's blocks in user id order (byte order), `limit` at a time. */
export async function listBlocks(ctx: Context, actor: Actor, page: UserIdPage): Promise<List<Block>> {
  const limit = page.limit ?? 100;
  const after = page.cursor === undefined ? undefined : decodeUserIdCursor(page.cursor);
  if (after === null) throw invalid("cursor is not one this API returned", [{ path: "/cursor", message: "malformed" }]);
  const byId = sql`${userBlocks.blockedId} collate "C"`;
  const rows = await ctx.db
    .select()
    .from(userBlocks)
    .where(and(eq(userBlocks.blockerId, actor.userId), after === undefined ? undefined : gt(byId, after)))
    .orderBy(asc(byId))
    .limit(limit + 1);
  return pageOf(
    rows,
    limit,
    (shown) => shown.map((r) => ({ userId: r.blockedId, createdAt: r.createdAt.toISOString() })),
    (last) => encodeUserIdCursor(last.blockedId),
  );
}
