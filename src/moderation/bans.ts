import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import type { Executor } from "../core/db/client";
import { type ConversationBanRow, conversationBans } from "../core/db/schema";
import { withTransaction } from "../core/db/transaction";
import { forbidden, invalid } from "../core/errors";
import { checkStorable, futureTime, iso, type List, pageOf } from "../core/schemas";
import { requireGroup, requireManager, requireMembership, requireParticipant } from "../conversations/membership";
import { missingUsers, removeFrom, requireNoneMissing } from "../conversations/participants";
import { type Ban, type CreateBan, decodeUserIdCursor, encodeUserIdCursor, type UserIdPage } from "./model";
import { banInForce } from "./store";

const toBan = (row: ConversationBanRow): Ban => ({
  conversationId: row.conversationId,
  userId: row.userId,
  bannedBy: row.bannedBy,
  until: iso(row.until),
  reason: row.reason,
  createdAt: row.createdAt.toISOString(),
});

/**
 * An owner or admin of a group bans a user: recorded (replacing an earlier ban), and a participant
 * is removed exactly as by removeParticipant, in the same transaction. Until `until` (or until
 * lifted) nobody can add them back. An owner cannot be banned (403); a direct conversation has
 * no bans (409, as it cannot lose a participant either).
 */
export async function banUser(ctx: Context, actor: Actor, conversationId: string, input: CreateBan): Promise<Ban> {
  if (input.userId === actor.userId) throw invalid("A user cannot ban themself; leave the conversation instead", [{ path: "/userId", message: "is the caller" }]);
  const until = input.until === undefined ? null : futureTime(input.until, "/until");
  checkStorable(input.reason, "/reason");
  return withTransaction(ctx, async (tx, after) => {
    // Users before conversations: the order deleteUser locks them in.
    requireNoneMissing(await missingUsers(tx, [input.userId]));
    const m = await requireMembership(tx, conversationId, actor.userId, { lock: true });
    requireGroup(m, "have bans");
    requireManager(m, "ban users");
    const target = await participantRole(tx, conversationId, input.userId);
    if (target === "owner") throw forbidden("An owner cannot be banned");
    const values = { conversationId, userId: input.userId, bannedBy: actor.userId, until, reason: input.reason ?? null, createdAt: new Date() };
    const [row] = await tx
      .insert(conversationBans)
      .values(values)
      .onConflictDoUpdate({ target: [conversationBans.conversationId, conversationBans.userId], set: { bannedBy: values.bannedBy, until, reason: values.reason, createdAt: values.createdAt } })
      .returning();
    if (target) await removeFrom(ctx, tx, after, m, actor, input.userId, { banned: true });
    return toBan(row!);
  });
}

/** Lifts a ban (also when there is none): the user may be added again. */
export async function unbanUser(ctx: Context, actor: Actor, conversationId: string, userId: string): Promise<void> {
  await withTransaction(ctx, async (tx) => {
    const m = await requireMembership(tx, conversationId, actor.userId, { lock: true });
    requireGroup(m, "have bans");
    requireManager(m, "lift bans");
    await tx.delete(conversationBans).where(and(eq(conversationBans.conversationId, conversationId), eq(conversationBans.userId, userId)));
  });
}

/** The bans in force, in user id order (byte order), `limit` at a time; owners and admins only. */
export async function listBans(ctx: Context, actor: Actor, conversationId: string, page: UserIdPage): Promise<List<Ban>> {
  const limit = page.limit ?? 100;
  const after = page.cursor === undefined ? undefined : decodeUserIdCursor(page.cursor);
  if (after === null) throw invalid("cursor is not one this API returned", [{ path: "/cursor", message: "malformed" }]);
  const m = await requireMembership(ctx.db, conversationId, actor.userId);
  requireGroup(m, "have bans");
  requireManager(m, "see bans");
  const byId = sql`${conversationBans.userId} collate "C"`;
  const rows = await ctx.db
    .select()
    .from(conversationBans)
    .where(and(eq(conversationBans.conversationId, conversationId), banInForce, after === undefined ? undefined : gt(byId, after)))
    .orderBy(asc(byId))
    .limit(limit + 1);
  return pageOf(rows, limit, (shown) => shown.map(toBan), (last) => encodeUserIdCursor(last.userId));
}

/** The user's role in the conversation, or undefined when they are not in it. */
async function participantRole(db: Executor, conversationId: string, userId: string) {
  return (await requireParticipant(db, conversationId, userId).catch(() => undefined))?.role;
}
