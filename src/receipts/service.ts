import { and, desc, eq, gt, gte, inArray, isNull, lt, lte, min, ne, type Placeholder, sql } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import type { Executor, Transaction } from "../core/db/client";
import { type ConversationRow, conversations, messages, participants, readMarks } from "../core/db/schema";
import { preparedStatements } from "../core/db/prepared";
import { withTransaction } from "../core/db/transaction";
import { notFound } from "../core/errors";
import { type List, listOf } from "../core/schemas";
import { requireMembership } from "../conversations/membership";
import { requireMessage } from "../messages/service";
import { isBlocked, otherSideOf } from "../moderation/store";
import type { ConversationRead, MessageRead, Reader, UnreadCount } from "./model";

/** Messages from others, not deleted, after each of `userId`'s watermarks. */
export async function unreadCounts(db: Executor, userId: string, conversationIds: string[]): Promise<Map<string, number>> {
  if (conversationIds.length === 0) return new Map();
  const prepared = statements(db);
  const rows = prepared ? await prepared.unread.execute({ userId, conversationIds }) : await unreadQuery(db, userId, conversationIds);
  return new Map(rows.map((r) => [r.conversationId, r.n]));
}

const unreadQuery = (db: Executor, userId: string | Placeholder, conversationIds: string[] | Placeholder) =>
  db
    .select({ conversationId: participants.conversationId, n: sql<number>`count(${messages.id})::int` })
    .from(participants)
    .innerJoin(
      messages,
      and(
        eq(messages.conversationId, participants.conversationId),
        gt(messages.seq, participants.lastReadSeq),
        ne(messages.senderId, participants.userId),
        isNull(messages.deletedAt),
      ),
    )
    .where(
      and(
        eq(participants.userId, userId),
        // A prepared statement takes the list as one array parameter; a built query lists them.
        Array.isArray(conversationIds) ? inArray(participants.conversationId, conversationIds) : sql`${participants.conversationId} = any(${conversationIds}::uuid[])`,
      ),
    )
    .groupBy(participants.conversationId);

const statements = preparedStatements((db) => ({
  unread: unreadQuery(db, sql.placeholder("userId"), sql.placeholder("conversationIds")).prepare("unread_counts"),
}));

/** Messages between two watermarks that count as unread for `userId`. */
async function countBetween(tx: Executor, conversationId: string, userId: string, fromSeq: number, toSeq: number) {
  return tx.$count(
    messages,
    and(
      eq(messages.conversationId, conversationId),
      gt(messages.seq, fromSeq),
      lte(messages.seq, toSeq),
      ne(messages.senderId, userId),
      isNull(messages.deletedAt),
    ),
  );
}

/**
 * Moves the watermark up to `seq` if it is below. Returns the time of the move, or undefined when
 * the watermark was already there (it never moves backwards).
 */
async function advance(tx: Transaction, conversationId: string, userId: string, seq: number): Promise<{ readAt: Date; from: number } | undefined> {
  const [before] = await tx
    .select({ lastReadSeq: participants.lastReadSeq })
    .from(participants)
    .where(and(eq(participants.conversationId, conversationId), eq(participants.userId, userId)))
    .for("update");
  if (!before || before.lastReadSeq >= seq) return undefined;
  const readAt = new Date();
  await tx
    .update(participants)
    .set({ lastReadSeq: seq, lastReadAt: readAt })
    .where(and(eq(participants.conversationId, conversationId), eq(participants.userId, userId)));
  await tx.insert(readMarks).values({ conversationId, userId, seq, readAt }).onConflictDoNothing();
  await forgetOldMarks(tx, conversationId, userId);
  return { readAt, from: before.lastReadSeq };
}

/**
 * Watermark moves kept per participant and conversation. Older ones are deleted as new ones come,
 * so that the table does not grow with every read; a message older than every kept move then
 * reports the oldest kept one's time (later than the truth, never earlier).
 */
const MAX_READ_MARKS = 64;

async function forgetOldMarks(tx: Transaction, conversationId: string, userId: string): Promise<void> {
  const ofParticipant = and(eq(readMarks.conversationId, conversationId), eq(readMarks.userId, userId));
  const oldestKept = tx
    .select({ seq: readMarks.seq })
    .from(readMarks)
    .where(ofParticipant)
    .orderBy(desc(readMarks.seq))
    .offset(MAX_READ_MARKS - 1)
    .limit(1);
  // Fewer marks than that: the subquery is null and nothing is deleted.
  await tx.delete(readMarks).where(and(ofParticipant, lt(readMarks.seq, sql`(${oldestKept})`)));
}

/** A participant left: their read history goes (coming back, they start with the history read, from their new join time). */
export async function forgetReadMarks(tx: Transaction, conversationId: string, userId: string): Promise<void> {
  await tx.delete(readMarks).where(and(eq(readMarks.conversationId, conversationId), eq(readMarks.userId, userId)));
}

/** When `userId` first read message `seq`: the first watermark move at or above it. */
async function readTimeOf(db: Executor, conversationId: string, userId: string, seq: number): Promise<Date | null> {
  const [row] = await db
    .select({ at: min(readMarks.readAt) })
    .from(readMarks)
    .where(and(eq(readMarks.conversationId, conversationId), eq(readMarks.userId, userId), gte(readMarks.seq, seq)));
  return row?.at ? new Date(row.at) : null;
}

/**
 * In a direct conversation, whether the reader blocks the other side: their read events then go
 * to their own sockets only.
 */
async function blocksOtherSide(db: Executor, conversation: ConversationRow, readerId: string): Promise<boolean> {
  if (conversation.type !== "direct") return false;
  const other = otherSideOf(conversation, readerId);
  return other !== undefined && (await isBlocked(db, readerId, other));
}

/** Marks a message, and so every earlier one, read. */
export async function markMessageRead(ctx: Context, actor: Actor, messageId: string): Promise<MessageRead> {
  return withTransaction(ctx, async (tx, after) => {
    const { message, membership } = await requireMessage(tx, messageId, actor.userId);
    const moved = await advance(tx, message.conversationId, actor.userId, message.seq);
    // Already read: when it first was, or, for history that predates the caller, when they joined.
    const readAt = moved?.readAt ?? (await readTimeOf(tx, message.conversationId, actor.userId, message.seq)) ?? membership.participant.joinedAt;
    const result = { messageId, conversationId: message.conversationId, userId: actor.userId, readAt: readAt.toISOString() };
    if (moved) {
      const toOwnSocketsOnly = await blocksOtherSide(tx, membership.conversation, actor.userId);
      after(() => (toOwnSocketsOnly ? ctx.fanout.toUsers([actor.userId], "message:read", result) : ctx.fanout.toConversation(message.conversationId, "message:read", result)));
    }
    return result;
  });
}

/** Marks the conversation read up to a message (default: its newest); `count` is how many became read. */
export async function markConversationRead(ctx: Context, actor: Actor, conversationId: string, upToMessageId?: string | null): Promise<ConversationRead> {
  return withTransaction(ctx, async (tx, after) => {
    const { conversation } = await requireMembership(tx, conversationId, actor.userId);
    let target: { id: string | null; seq: number };
    if (upToMessageId) {
      const [row] = await tx
        .select({ id: messages.id, seq: messages.seq })
        .from(messages)
        .where(and(eq(messages.id, upToMessageId), eq(messages.conversationId, conversationId)));
      if (!row) throw notFound("Message");
      target = row;
    } else {
      const [latest] = await tx.select({ seq: conversations.lastSeq, id: conversations.lastMessageId }).from(conversations).where(eq(conversations.id, conversationId));
      target = { id: latest?.id ?? conversation.lastMessageId, seq: latest?.seq ?? conversation.lastSeq };
    }
    const moved = await advance(tx, conversationId, actor.userId, target.seq);
    const count = moved ? await countBetween(tx, conversationId, actor.userId, moved.from, target.seq) : 0;
    const readAt = moved?.readAt ?? new Date();
    const result = { conversationId, userId: actor.userId, upToMessageId: target.id, count, readAt: readAt.toISOString() };
    if (moved) {
      const toOwnSocketsOnly = await blocksOtherSide(tx, conversation, actor.userId);
      after(() => (toOwnSocketsOnly ? ctx.fanout.toUsers([actor.userId], "conversation:read", result) : ctx.fanout.toConversation(conversationId, "conversation:read", result)));
    }
    return result;
  });
}

/**
 * The participants other than the sender whose watermark covers the message, earliest reader
 * first, each with the first watermark move that covered it. Someone added after the message has
 * no such move (the history starts read for them): their join time stands in.
 */
export async function listReaders(ctx: Context, actor: Actor, messageId: string): Promise<List<Reader>> {
  const { message } = await requireMessage(ctx.db, messageId, actor.userId);
  const readAt = sql<Date | string>`coalesce(min(${readMarks.readAt}), ${participants.joinedAt})`;
  const rows = await ctx.db
    .select({ userId: participants.userId, readAt })
    .from(participants)
    .leftJoin(
      readMarks,
      and(eq(readMarks.conversationId, participants.conversationId), eq(readMarks.userId, participants.userId), gte(readMarks.seq, message.seq)),
    )
    .where(
      and(
        eq(participants.conversationId, message.conversationId),
        gte(participants.lastReadSeq, message.seq),
        ne(participants.userId, message.senderId),
      ),
    )
    .groupBy(participants.userId, participants.joinedAt)
    .orderBy(readAt, participants.userId);
  return listOf(rows.map((r) => ({ userId: r.userId, readAt: new Date(r.readAt).toISOString() })));
}

export async function unreadCount(ctx: Context, actor: Actor, conversationId: string): Promise<UnreadCount> {
  const { participant } = await requireMembership(ctx.db, conversationId, actor.userId);
  const counts = await unreadCounts(ctx.db, actor.userId, [conversationId]);
  return { conversationId, unreadCount: counts.get(conversationId) ?? 0, lastReadSeq: participant.lastReadSeq };
}
