import { and, asc, desc, eq, gt, inArray, lt, sql } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import type { Database, Executor } from "../core/db/client";
import { preparedStatements } from "../core/db/prepared";
import { type MessageRow, messages } from "../core/db/schema";
import { runCommitted, withTransaction } from "../core/db/transaction";
import { AppError, conflict, forbidden, invalid, notFound } from "../core/errors";
import { checkMetadata, checkStorable, iso, type List, pageOf } from "../core/schemas";
import { isManager, type Membership, requireMembership } from "../conversations/membership";
import { requireNotBlockedInDirect } from "../moderation/store";
import { reactionSummaries, removeReactions } from "../reactions/store";
import { recordEvent, recordEvents } from "../webhooks/outbox";
import type { Message, MessageDeleted, MessagePage, ReactionSummary, SendMessage } from "./model";
import type { QueuedSend, SendResult } from "./send-queue";
import { storeSends } from "./store";

export function toMessage(row: MessageRow, reactionList: ReactionSummary[] = []): Message {
  return {
    id: row.id,
    conversationId: row.conversationId,
    seq: row.seq,
    senderId: row.senderId,
    content: row.content,
    attachments: row.attachments,
    replyTo: row.replyTo,
    clientMessageId: row.clientMessageId,
    metadata: row.metadata,
    reactions: reactionList,
    isEdited: row.editedAt !== null,
    isDeleted: row.deletedAt !== null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    editedAt: iso(row.editedAt),
    deletedAt: iso(row.deletedAt),
  };
}

/** A page of a conversation: newest first below `below`, or oldest first above `above`. */
const pageQuery = (db: Executor, direction: "older" | "newer") =>
  db
    .select()
    .from(messages)
    .where(
      and(
        eq(messages.conversationId, sql.placeholder("conversationId")),
        direction === "older" ? lt(messages.seq, sql.placeholder("seq")) : gt(messages.seq, sql.placeholder("seq")),
      ),
    )
    .orderBy(direction === "older" ? desc(messages.seq) : asc(messages.seq))
    .limit(sql.placeholder("limit"));

const statements = preparedStatements((db) => ({
  older: pageQuery(db, "older").prepare("messages_older"),
  newer: pageQuery(db, "newer").prepare("messages_newer"),
  seqOf: db
    .select({ seq: messages.seq })
    .from(messages)
    .where(and(eq(messages.id, sql.placeholder("messageId")), eq(messages.conversationId, sql.placeholder("conversationId"))))
    .prepare("message_seq"),
}));

export async function withReactions(db: Executor, rows: MessageRow[]): Promise<Message[]> {
  const summaries = await reactionSummaries(
    db,
    rows.filter((r) => r.deletedAt === null).map((r) => r.id),
  );
  return rows.map((row) => toMessage(row, summaries.get(row.id)));
}

/** Messages by id, as the API shows them. */
export async function messagesByIds(db: Executor, ids: string[]): Promise<Message[]> {
  if (ids.length === 0) return [];
  return withReactions(db, await db.select().from(messages).where(inArray(messages.id, ids)));
}

/** A message and the caller's membership of its conversation; NOT_FOUND for outsiders. */
export async function requireMessage(
  db: Executor,
  messageId: string,
  userId: string,
  opts: { lock?: boolean } = {},
): Promise<{ message: MessageRow; membership: Membership }> {
  const query = db.select().from(messages).where(eq(messages.id, messageId));
  const [message] = opts.lock ? await query.for("update") : await query;
  if (!message) throw notFound("Message");
  const membership = await requireMembership(db, message.conversationId, userId).catch(() => {
    throw notFound("Message");
  });
  return { message, membership };
}

/** Content is counted in characters (Unicode code points), not UTF-16 units or bytes. */
function checkContent(ctx: Context, content: string, hasAttachments: boolean): void {
  checkStorable(content, "/content");
  const length = [...content].length;
  if (length > ctx.config.MESSAGE_MAX_LENGTH) {
    throw invalid(`content is ${length} characters; at most ${ctx.config.MESSAGE_MAX_LENGTH} are allowed`, [
      { path: "/content", message: "too long" },
    ]);
  }
  if (!hasAttachments && content.trim().length === 0) {
    throw invalid("content must not be empty unless attachments are present", [{ path: "/content", message: "empty" }]);
  }
}

/**
 * Sends a message. Its seq comes from the conversation's counter, incremented in the transaction
 * that stores it (one transaction may carry many sends: see SendQueue), so seqs are gapless and in
 * commit order. A repeated clientMessageId returns the stored message (`created: false`).
 */
export async function sendMessage(ctx: Context, actor: Actor, conversationId: string, input: SendMessage): Promise<SendResult> {
  const content = input.content ?? "";
  const attachments = input.attachments ?? [];
  checkContent(ctx, content, attachments.length > 0);
  checkStorable(attachments, "/attachments");
  checkStorable(input.clientMessageId, "/clientMessageId");
  checkMetadata(input.metadata);
  const result = await ctx.sends.send({ actor, conversationId, input });
  if (result.created) await runCommitted(ctx, [() => ctx.fanout.toConversation(conversationId, "message:new", result.message)]);
  return result;
}

/**
 * Writes a batch of sends (the send queue's writer): the messages and their outbox events in one
 * transaction, then a retry's stored message with its reactions.
 */
export async function writeSends(ctx: Context, batch: QueuedSend[]): Promise<(SendResult | AppError)[]> {
  const results = await withTransaction(ctx, async (tx) => {
    const stored = await storeSends(tx, batch);
    const built = stored.map((s) => (s instanceof AppError || !s.created ? s : { message: toMessage(s.row), created: true }));
    const created = built.flatMap((b) => ("message" in b ? [b.message] : []));
    await recordEvents(ctx, tx, created.map((data) => ({ type: "message.created", data })));
    return built;
  });
  const created = results.filter((r) => "message" in r).length;
  if (created) ctx.metrics.count("messages_sent_total", undefined, created);
  const retries = results.flatMap((r) => ("row" in r ? [r.row] : []));
  const found = new Map((await withReactions(ctx.db, retries)).map((m) => [m.id, m]));
  return results.map((r) => ("row" in r ? { message: found.get(r.row.id)!, created: false } : r));
}

/** A page in ascending seq: the newest `limit`, or older than `before`, or newer than `after`. */
export async function listMessages(ctx: Context, actor: Actor, conversationId: string, page: MessagePage): Promise<List<Message>> {
  const limit = page.limit ?? 50;
  if (page.before && page.after) throw invalid("Use either before or after, not both");
  await requireMembership(ctx.db, conversationId, actor.userId);
  const cursorId = page.before ?? page.after;
  const cursorSeq = cursorId ? await seqOf(ctx.db, conversationId, cursorId) : undefined;

  if (page.after) return messagesAfter(ctx.db, conversationId, cursorSeq!, limit);
  // No cursor: below a seq no message can reach.
  const rows = await statements(ctx.db)!.older.execute({ conversationId, seq: cursorSeq ?? 2_147_483_647, limit: limit + 1 });
  // Fetched newest first; shown in ascending seq. The cursor is the oldest shown.
  return pageOf(rows, limit, (newestFirst) => withReactions(ctx.db, newestFirst.toReversed()), (oldest) => oldest.id);
}

/** Up to `limit` messages after `seq`, in ascending seq. */
async function messagesAfter(db: Database, conversationId: string, seq: number, limit: number): Promise<List<Message>> {
  const rows = await statements(db)!.newer.execute({ conversationId, seq, limit: limit + 1 });
  return pageOf(rows, limit, (page) => withReactions(db, page), (last) => last.id);
}

/** Catch-up after a reconnect: messages after `lastMessageId` (or from the start), at most 100. */
export async function syncMessages(
  ctx: Context,
  actor: Actor,
  conversationId: string,
  lastMessageId: string | null | undefined,
): Promise<{ messages: Message[]; hasMore: boolean }> {
  await requireMembership(ctx.db, conversationId, actor.userId);
  const fromSeq = lastMessageId ? await seqOf(ctx.db, conversationId, lastMessageId) : 0;
  const { data, hasMore } = await messagesAfter(ctx.db, conversationId, fromSeq, 100);
  return { messages: data, hasMore };
}

async function seqOf(db: Database, conversationId: string, messageId: string): Promise<number> {
  const [row] = await statements(db)!.seqOf.execute({ messageId, conversationId });
  if (!row) throw notFound("Message");
  return row.seq;
}

export async function getMessage(ctx: Context, actor: Actor, messageId: string): Promise<Message> {
  const { message } = await requireMessage(ctx.db, messageId, actor.userId);
  return (await withReactions(ctx.db, [message]))[0]!;
}

/** Only the sender edits; the same content again changes nothing and emits nothing. */
export async function editMessage(ctx: Context, actor: Actor, messageId: string, content: string): Promise<Message> {
  return withTransaction(ctx, async (tx, after) => {
    const { message, membership } = await requireMessage(tx, messageId, actor.userId, { lock: true });
    if (message.senderId !== actor.userId) throw forbidden("Only the sender can edit a message");
    await requireNotBlockedInDirect(tx, membership, actor.userId, "edit messages");
    if (message.deletedAt) throw conflict("The message is deleted");
    checkContent(ctx, content, message.attachments.length > 0);
    if (content === message.content) return (await withReactions(tx, [message]))[0]!;
    const now = new Date();
    const [row] = await tx
      .update(messages)
      .set({ content, editedAt: now, updatedAt: now })
      .where(eq(messages.id, messageId))
      .returning();
    const edited = (await withReactions(tx, [row!]))[0]!;
    await recordEvent(ctx, tx, "message.updated", edited);
    after(() =>
      ctx.fanout.toConversation(edited.conversationId, "message:updated", {
        messageId: edited.id,
        conversationId: edited.conversationId,
        content: edited.content,
        isEdited: true,
        updatedAt: edited.updatedAt,
        editedAt: edited.editedAt,
      }),
    );
    return edited;
  });
}

/**
 * The sender, or an owner/admin of the conversation, deletes a message. It stays as a tombstone
 * (empty content, no attachments, metadata or reactions) so that seqs and replies keep their place.
 * Deleting a deleted message is a no-op.
 */
export async function deleteMessage(ctx: Context, actor: Actor, messageId: string): Promise<MessageDeleted> {
  return withTransaction(ctx, async (tx, after) => {
    const { message, membership } = await requireMessage(tx, messageId, actor.userId, { lock: true });
    if (message.senderId !== actor.userId && !isManager(membership.participant)) {
      throw forbidden("Only the sender or an owner/admin can delete a message");
    }
    if (message.deletedAt) {
      return { messageId, conversationId: message.conversationId, deletedAt: message.deletedAt.toISOString() };
    }
    const now = new Date();
    await tx
      .update(messages)
      .set({ content: "", attachments: [], metadata: {}, deletedAt: now, updatedAt: now })
      .where(eq(messages.id, messageId));
    await removeReactions(tx, messageId);
    const deleted = { messageId, conversationId: message.conversationId, deletedAt: now.toISOString() };
    await recordEvent(ctx, tx, "message.deleted", { ...deleted, deletedBy: actor.userId });
    after(() => ctx.fanout.toConversation(message.conversationId, "message:deleted", deleted));
    return deleted;
  });
}
