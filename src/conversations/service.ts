import { and, desc, eq, lt, or } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import { decodeCursor, encodeCursor } from "../core/cursor";
import type { Executor } from "../core/db/client";
import { isUniqueViolation } from "../core/db/errors";
import { conversations, participants } from "../core/db/schema";
import { withTransaction } from "../core/db/transaction";
import { invalid } from "../core/errors";
import { checkMetadata, checkStorable, type List, pageOf } from "../core/schemas";
import { recordEvent } from "../webhooks/outbox";
import { requireNoBlockers, requireNotBlockedInDirect } from "../moderation/store";
import { memberIds, requireManager, requireMembership } from "./membership";
import type { Conversation, CreateConversation, Role } from "./model";
import { announceAdded, changeMemberCount, missingUsers, requireNoneMissing } from "./participants";
import { buildConversation, buildConversations, forWebhook } from "./view";

const directKeyOf = (a: string, b: string) => [a, b].sort().join(" ");

/**
 * Creates a conversation. A direct one is unique per pair: asking again returns the existing one
 * (`created: false`), with a participant restored if they had been removed by a user deletion.
 */
export async function createConversation(ctx: Context, actor: Actor, input: CreateConversation): Promise<{ conversation: Conversation; created: boolean }> {
  checkMetadata(input.metadata);
  checkStorable(input.name, "/name");
  const others = [...new Set(input.participantIds)].filter((id) => id !== actor.userId);
  if (input.type === "direct" && others.length !== 1) {
    throw invalid("A direct conversation has exactly one other participant", [{ path: "/participantIds", message: "need exactly one other user" }]);
  }
  if (input.type === "group" && others.length + 1 > ctx.config.MAX_GROUP_PARTICIPANTS) {
    throw invalid(`A group has at most ${ctx.config.MAX_GROUP_PARTICIPANTS} participants`);
  }
  const directKey = input.type === "direct" ? directKeyOf(actor.userId, others[0]!) : null;
  // Checked before the pair's existing conversation is reopened: someone blocked cannot bring themself back into it.
  await requireNoBlockers(ctx.db, actor.userId, others, input.type === "direct" ? "You cannot start a conversation with this user" : "You cannot add one or more of these users");

  if (directKey) {
    const existing = await openExistingDirect(ctx, actor, directKey);
    if (existing) return { conversation: existing, created: false };
  }
  try {
    const conversation = await withTransaction(ctx, async (tx, after) => {
      requireNoneMissing(await missingUsers(tx, others));
      const id = Bun.randomUUIDv7();
      const [row] = await tx
        .insert(conversations)
        .values({ id, type: input.type, name: input.name ?? null, metadata: input.metadata ?? {}, createdBy: actor.userId, directKey, memberCount: others.length + 1 })
        .returning();
      const creatorRole: Role = input.type === "group" ? "owner" : "member";
      await tx.insert(participants).values([
        { conversationId: id, userId: actor.userId, role: creatorRole },
        ...others.map((userId) => ({ conversationId: id, userId, role: "member" as const })),
      ]);
      const conversation = await buildConversation(tx, row!, actor.userId);
      await recordEvent(ctx, tx, "conversation.created", forWebhook(conversation));
      const everyone = [actor.userId, ...others];
      after(async () => {
        await ctx.fanout.joinConversation(everyone, id);
        ctx.fanout.toUsers(everyone, "conversation:new", conversation);
      });
      return conversation;
    });
    return { conversation, created: true };
  } catch (error) {
    // Both sides of a pair created their direct conversation at once: the loser gets the winner's.
    if (directKey && isUniqueViolation(error, "conversations_direct_key_unique")) {
      const existing = await openExistingDirect(ctx, actor, directKey);
      if (existing) return { conversation: existing, created: false };
    }
    throw error;
  }
}

async function openExistingDirect(ctx: Context, actor: Actor, directKey: string): Promise<Conversation | undefined> {
  return withTransaction(ctx, async (tx, after) => {
    const [row] = await tx.select().from(conversations).where(eq(conversations.directKey, directKey)).for("no key update");
    if (!row) return undefined;
    const pair = directKey.split(" ");
    const present = await memberIds(tx, row.id);
    const missing = pair.filter((u) => !present.includes(u));
    if (missing.length) {
      // Either side may have left, or the other been deleted: the caller is authenticated, so
      // only the other is checked. No deletion can be waiting on this conversation's lock, as
      // the missing user is not in it.
      requireNoneMissing(await missingUsers(tx, missing.filter((userId) => userId !== actor.userId)));
      await tx.insert(participants).values(missing.map((userId) => ({ conversationId: row.id, userId, role: "member" as const, lastReadSeq: row.lastSeq })));
      await changeMemberCount(tx, row.id, missing.length);
      await announceAdded(ctx, tx, after, row.id, missing, actor.userId);
      after(async () => {
        for (const userId of missing) ctx.fanout.toUsers([userId], "conversation:joined", await buildConversation(ctx.db, row, userId));
      });
    }
    return buildConversation(tx, row, actor.userId);
  });
}


/** A page of `userId`'s conversations, most recent activity first, below a cursor: one row more than `limit`. */
export const conversationListQuery = (db: Executor, userId: string, limit: number, cursor?: { at: Date; id: string }) =>
  db
    .select({ conversation: conversations })
    .from(participants)
    .innerJoin(conversations, eq(conversations.id, participants.conversationId))
    .where(
      and(
        eq(participants.userId, userId),
        cursor
          ? or(lt(conversations.lastActivityAt, cursor.at), and(eq(conversations.lastActivityAt, cursor.at), lt(conversations.id, cursor.id)))
          : undefined,
      ),
    )
    .orderBy(desc(conversations.lastActivityAt), desc(conversations.id))
    .limit(limit + 1);

/** The caller's conversations, most recent activity (creation or newest message) first. */
export async function listConversations(ctx: Context, actor: Actor, page: { limit?: number; cursor?: string }): Promise<List<Conversation>> {
  const limit = page.limit ?? 20;
  const cursor = page.cursor ? decodeCursor(page.cursor) : undefined;
  const rows = await conversationListQuery(ctx.db, actor.userId, limit, cursor);
  return pageOf(
    rows.map((r) => r.conversation),
    limit,
    (page) => buildConversations(ctx.db, page, actor.userId),
    (last) => encodeCursor({ at: last.lastActivityAt, id: last.id }),
  );
}

export async function getConversation(ctx: Context, actor: Actor, conversationId: string): Promise<Conversation> {
  const { conversation } = await requireMembership(ctx.db, conversationId, actor.userId);
  return buildConversation(ctx.db, conversation, actor.userId);
}

/** Owner or admin of a group, either side of a direct conversation. Messages go with it. */
export async function deleteConversation(ctx: Context, actor: Actor, conversationId: string): Promise<void> {
  await withTransaction(ctx, async (tx, after) => {
    const m = await requireMembership(tx, conversationId, actor.userId, { lock: true });
    if (m.conversation.type === "group") requireManager(m, "delete a group");
    // Deleting would take the history the blocker keeps reading: the blocked side may not.
    else await requireNotBlockedInDirect(tx, m, actor.userId, "delete this conversation");
    const userIds = await memberIds(tx, conversationId);
    await tx.delete(conversations).where(eq(conversations.id, conversationId));
    const deletedAt = new Date().toISOString();
    await recordEvent(ctx, tx, "conversation.deleted", { conversationId, deletedBy: actor.userId, deletedAt });
    after(async () => {
      ctx.fanout.toUsers(userIds, "conversation:removed", { conversationId });
      await ctx.fanout.leaveConversation(userIds, conversationId);
    });
  });
}
