import { and, asc, desc, eq, gt, inArray, isNull, lt, ne, type SQL, sql } from "drizzle-orm";
import type { Actor, Claims } from "../core/auth";
import type { Context } from "../core/context";
import type { Database, Executor, Transaction } from "../core/db/client";
import { preparedStatements } from "../core/db/prepared";
import { type ConversationRow, type MessageRow, messages } from "../core/db/schema";
import { runCommitted, withTransaction } from "../core/db/transaction";
import { AppError, conflict, forbidden, invalid, notFound } from "../core/errors";
import { checkMetadata, checkStorable, iso, type List, pageOf } from "../core/schemas";
import { isManager, type Membership, requireMembership } from "../conversations/membership";
import { requireNotBlockedInDirect } from "../moderation/store";
import { reactionSummaries, removeReactions } from "../reactions/store";
import { scheduleNotifications } from "../notifications/jobs";
import { recordEvent, recordEvents } from "../webhooks/outbox";
import { indexMentions, requireMentionable, uniqueMentions } from "./mentions";
import type { ModerationHook } from "./moderation-hook";
import type { ConversationMessagePage, EditMessage, Message, MessageDeleted, MessagePage, MessageUnpinned, ReactionSummary, SendMessage, SyncedMessages, ThreadUpdated } from "./model";
import { retentionCutoff, uuidTime } from "./retention";
import { conversationPage } from "./page";
import type { QueuedSend, SendResult } from "./send-queue";
import { judgeBeforeModeration, storeSends, type ThreadCounters } from "./store";

export function toMessage(row: MessageRow, reactionList: ReactionSummary[] = []): Message {
  return {
    id: row.id,
    conversationId: row.conversationId,
    seq: row.seq,
    senderId: row.senderId,
    content: row.content,
    attachments: row.attachments,
    replyTo: row.replyTo,
    parentId: row.parentId,
    replyCount: row.replyCount,
    lastReplyAt: iso(row.lastReplyAt),
    clientMessageId: row.clientMessageId,
    metadata: row.metadata,
    mentions: row.deletedAt === null ? row.mentions : [],
    reactions: reactionList,
    isEdited: row.editedAt !== null,
    isDeleted: row.deletedAt !== null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    editedAt: iso(row.editedAt),
    deletedAt: iso(row.deletedAt),
    pinnedAt: iso(row.pinnedAt),
    pinnedBy: row.pinnedBy,
  };
}

/**
 * Which messages a page holds: all of a conversation's (sync), or one thread's replies (from
 * messages_thread_idx). Each condition is written as its index's predicate is, so that the
 * planner picks that index. A conversation's REST pages are one statement of their own (page.ts).
 */
const SCOPES = {
  all: () => eq(messages.conversationId, sql.placeholder("conversationId")),
  thread: () => eq(messages.parentId, sql.placeholder("parentId")),
} satisfies Record<string, () => SQL>;

/** A page of a scope: newest first below `seq`, or oldest first above it. */
const pageQuery = (db: Executor, scope: keyof typeof SCOPES, direction: "older" | "newer") =>
  db
    .select()
    .from(messages)
    .where(and(SCOPES[scope](), direction === "older" ? lt(messages.seq, sql.placeholder("seq")) : gt(messages.seq, sql.placeholder("seq"))))
    .orderBy(direction === "older" ? desc(messages.seq) : asc(messages.seq))
    .limit(sql.placeholder("limit"));

const statements = preparedStatements((db) => ({
  newer: pageQuery(db, "all", "newer").prepare("messages_newer"),
  threadOlder: pageQuery(db, "thread", "older").prepare("messages_thread_older"),
  threadNewer: pageQuery(db, "thread", "newer").prepare("messages_thread_newer"),
  seqInThread: db
    .select({ seq: messages.seq })
    .from(messages)
    .where(and(eq(messages.id, sql.placeholder("messageId")), eq(messages.parentId, sql.placeholder("parentId"))))
    .prepare("message_seq_in_thread"),
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
  const [message] = opts.lock ? await query.for("no key update") : await query;
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

/** What a send must be before anything is looked up: the same rules for the values a moderation hook substitutes. */
function checkSendable(ctx: Context, input: SendMessage): void {
  const attachments = input.attachments ?? [];
  checkContent(ctx, input.content ?? "", attachments.length > 0);
  checkStorable(attachments, "/attachments");
  checkStorable(input.clientMessageId, "/clientMessageId");
  checkMetadata(input.metadata);
}

/**
 * Sends a message. Its seq comes from the conversation's counter, incremented in the transaction
 * that stores it (one transaction may carry many sends: see SendQueue), so seqs are gapless and in
 * commit order. A repeated clientMessageId returns the stored message (`created: false`).
 */
export async function sendMessage(ctx: Context, actor: Actor, conversationId: string, input: SendMessage): Promise<SendResult> {
  checkSendable(ctx, input);
  const result = ctx.moderation ? await sendModerated(ctx, ctx.moderation, actor, conversationId, input) : await ctx.sends.send({ actor, conversationId, input });
  if (result.created) {
    const { thread } = result;
    await runCommitted(ctx, [
      () => ctx.fanout.toConversation(conversationId, "message:new", result.message),
      ...(thread ? [() => ctx.fanout.toConversation(conversationId, "thread:updated", thread)] : []),
    ]);
  }
  return result;
}

/**
 * A send that the pre-send hook judges before it enters the send queue. What needs no hook is
 * checked first, in one query (membership: outsiders never reach the hook; a retry of a stored
 * clientMessageId answers the stored message without asking; a block), no connection held while
 * the hook thinks. The send statement judges everything again (and slow mode, replies,
 * mentions), so a change made meanwhile still counts. Hook calls run at once, but the sends of one
 * sender into one conversation enter the queue in the order they arrived.
 */
function sendModerated(ctx: Context, hook: ModerationHook, actor: Actor, conversationId: string, input: SendMessage): Promise<SendResult> {
  return hook.order.run(`${conversationId} ${actor.userId}`, async (enter) => {
    const { stored } = await judgeBeforeModeration(ctx.db, { actor, conversationId, input });
    if (stored) return { message: (await withReactions(ctx.db, [stored]))[0]!, created: false };
    const subject = {
      conversationId,
      senderId: actor.userId,
      content: input.content ?? "",
      attachments: input.attachments ?? [],
      metadata: input.metadata ?? {},
      parentId: input.parentId ?? null,
      mentions: input.mentions ? uniqueMentions(input.mentions) : [],
    };
    const moderated = await hook.moderate("message.before_send", subject, (values) => checkSendable(ctx, { ...input, ...values }));
    return enter(() => ctx.sends.send({ actor, conversationId, input: { ...input, ...moderated } }));
  });
}

/**
 * Writes a batch of sends (the send queue's writer): the messages and their outbox events in one
 * transaction, then a retry's stored message with its reactions.
 */
export async function writeSends(ctx: Context, batch: QueuedSend[]): Promise<(SendResult | AppError)[]> {
  const results = await withTransaction(ctx, async (tx) => {
    const stored = await storeSends(ctx.storage, tx, batch);
    const built = stored.map((s) =>
      s instanceof AppError || !s.created ? s : { message: toMessage(s.row), created: true, ...(s.thread && { thread: threadUpdated(s.row.conversationId, s.thread) }) },
    );
    // An AppError has a `message` too: refusals are told apart by their class, not by that key.
    const created = built.flatMap((b) => (!(b instanceof AppError) && "message" in b ? [b.message] : []));
    // Both only with webhooks on; sent together, one round trip.
    await Promise.all([
      recordEvents(ctx, tx, created.map((data) => ({ type: "message.created", data }))),
      scheduleNotifications(ctx, tx, created.map((m) => m.id)),
    ]);
    return built;
  });
  const created = results.filter((r) => !(r instanceof AppError) && "message" in r).length;
  if (created) ctx.metrics.count("messages_sent_total", undefined, created);
  const retries = results.flatMap((r) => ("row" in r ? [r.row] : []));
  const found = new Map((await withReactions(ctx.db, retries)).map((m) => [m.id, m]));
  return results.map((r) => ("row" in r ? { message: found.get(r.row.id)!, created: false } : r));
}

const threadUpdated = (conversationId: string, thread: ThreadCounters): ThreadUpdated => ({
  conversationId,
  parentId: thread.parentId,
  replyCount: thread.replyCount,
  lastReplyAt: iso(thread.lastReplyAt),
});

/**
 * A page of a conversation in ascending seq: the newest `limit`, or older than `before`, or newer
 * than `after`. Top-level messages only, unless `includeReplies`; a cursor may be any message of
 * the conversation. The answer is its JSON text (MessageListPage), as the statement wrote it.
 */
export async function listMessages(ctx: Context, claims: Claims, conversationId: string, page: ConversationMessagePage): Promise<string> {
  if (page.before && page.after) throw invalid("Use either before or after, not both", [{ path: "/after", message: "before is given too" }]);
  const cursorId = page.before ?? page.after;
  return conversationPage(ctx.storage, ctx.auth, ctx.pages, {
    conversationId,
    claims,
    includeReplies: page.includeReplies ?? false,
    direction: page.after ? "newer" : "older",
    cursor: cursorId === undefined ? undefined : { id: cursorId, mayHaveExpired: mayHaveExpired(ctx, cursorId) },
    limit: page.limit ?? 50,
  });
}

/** Whether a message id not found may be one retention removed: it was made before the cutoff. */
function mayHaveExpired(ctx: Context, messageId: string): boolean {
  const made = uuidTime(messageId);
  const cutoff = retentionCutoff(ctx.config);
  return made !== undefined && cutoff !== undefined && made < cutoff;
}

/**
 * GET /api/messages/:id/replies: a thread's replies in ascending seq, paged as a conversation is
 * (a cursor must be a reply of the thread). A reply has no thread of its own: its page is empty.
 */
export async function listReplies(ctx: Context, actor: Actor, parentId: string, page: MessagePage): Promise<List<Message>> {
  if (page.before && page.after) throw invalid("Use either before or after, not both");
  await requireMessage(ctx.db, parentId, actor.userId);
  const cursorId = page.before ?? page.after;
  const prepared = statements(ctx.db)!;
  let cursorSeq: number | undefined;
  if (cursorId) {
    const [row] = await prepared.seqInThread.execute({ messageId: cursorId, parentId });
    if (!row) throw notFound("Message");
    cursorSeq = row.seq;
  }
  return pageAround(ctx.db, page, cursorSeq, (direction, seq, limit) =>
    (direction === "older" ? prepared.threadOlder : prepared.threadNewer).execute({ parentId, seq, limit }),
  );
}

/** A page in ascending seq around a cursor's seq, from a scope's two page statements. */
async function pageAround(
  db: Executor,
  page: MessagePage,
  cursorSeq: number | undefined,
  fetch: (direction: "older" | "newer", seq: number, limit: number) => Promise<MessageRow[]>,
): Promise<List<Message>> {
  const limit = page.limit ?? 50;
  if (page.after) {
    const rows = await fetch("newer", cursorSeq!, limit + 1);
    return pageOf(rows, limit, (ascending) => withReactions(db, ascending), (last) => last.id);
  }
  // No cursor: below a seq no message can reach.
  const rows = await fetch("older", cursorSeq ?? 2_147_483_647, limit + 1);
  // Fetched newest first; shown in ascending seq. The cursor is the oldest shown.
  return pageOf(rows, limit, (newestFirst) => withReactions(db, newestFirst.toReversed()), (oldest) => oldest.id);
}

/** Up to `limit` messages after `seq`, in ascending seq. */
async function messagesAfter(db: Database, conversationId: string, seq: number, limit: number): Promise<List<Message>> {
  const rows = await statements(db)!.newer.execute({ conversationId, seq, limit: limit + 1 });
  return pageOf(rows, limit, (page) => withReactions(db, page), (last) => last.id);
}

/** Where a sync starts: after a message, after a seq, or (neither) from the start. */
export type SyncFrom = { lastMessageId?: string | null; afterSeq?: number };

/**
 * Catch-up after a reconnect: messages after `lastMessageId` or `afterSeq` (or from the start), at
 * most 100. A starting point older than what retention kept answers from the oldest kept message
 * with `truncated: true`: the client knows its copy has a hole.
 */
export async function syncMessages(ctx: Context, actor: Actor, conversationId: string, from: SyncFrom): Promise<SyncedMessages> {
  if (from.lastMessageId != null && from.afterSeq !== undefined) {
    throw invalid("Use either lastMessageId or afterSeq, not both", [{ path: "/afterSeq", message: "lastMessageId is given too" }]);
  }
  const { conversation } = await requireMembership(ctx.db, conversationId, actor.userId);
  const cursor = from.lastMessageId ? await cursorSeqOf(ctx, conversation, from.lastMessageId) : { seq: from.afterSeq ?? 0, expired: false };
  const kept = conversation.expiredUpToSeq;
  const { data, hasMore } = await messagesAfter(ctx.db, conversationId, Math.max(cursor.seq, kept), 100);
  return { messages: data, hasMore, ...(cursor.expired || cursor.seq < kept ? { truncated: true } : {}) };
}

/**
 * The seq of a cursor message of the conversation. A message that is not there, made (by its
 * UUIDv7 time) before the retention cut-off of a conversation that lost history to it, was most
 * likely purged: it reads as just below the oldest kept message, `expired`. Anything else unknown
 * is NOT_FOUND. (The page statement judges its cursor the same way, in SQL.)
 */
async function cursorSeqOf(ctx: Context, conversation: ConversationRow, messageId: string): Promise<{ seq: number; expired: boolean }> {
  const [row] = await statements(ctx.db)!.seqOf.execute({ messageId, conversationId: conversation.id });
  if (row) return { seq: row.seq, expired: false };
  if (conversation.expiredUpToSeq > 0 && mayHaveExpired(ctx, messageId)) return { seq: conversation.expiredUpToSeq, expired: true };
  throw notFound("Message");
}

export async function getMessage(ctx: Context, actor: Actor, messageId: string): Promise<Message> {
  const { message } = await requireMessage(ctx.db, messageId, actor.userId);
  return (await withReactions(ctx.db, [message]))[0]!;
}

/**
 * Only the sender edits. `mentions`, when given, replace the message's (each a participant now);
 * without them the message keeps its own. The same content and mentions again change nothing and
 * emit nothing. With the pre-send hook, an edit that changes something is judged by it first, with
 * no connection held, then stored with the content (and metadata) it decided.
 */
export async function editMessage(ctx: Context, actor: Actor, messageId: string, input: EditMessage): Promise<Message> {
  const hook = ctx.moderation;
  if (!hook) return storeEdit(ctx, actor, messageId, input);
  // Two edits of one message in a row: the later one is stored last, whichever answer came first.
  return hook.order.run(`edit ${messageId}`, async (enter) => {
    const { message, unchanged } = await judgeEdit(ctx, ctx.db, actor, messageId, input);
    if (unchanged) return (await withReactions(ctx.db, [message]))[0]!;
    const subject = {
      messageId,
      conversationId: message.conversationId,
      senderId: message.senderId,
      content: input.content,
      attachments: message.attachments,
      metadata: message.metadata,
      parentId: message.parentId,
      mentions: input.mentions ? uniqueMentions(input.mentions) : message.mentions,
    };
    const moderated = await hook.moderate("message.before_update", subject, (values) => {
      checkContent(ctx, values.content, message.attachments.length > 0);
      checkMetadata(values.metadata);
    });
    return enter(() => storeEdit(ctx, actor, messageId, { ...input, content: moderated.content }, moderated.metadata), { settled: true });
  });
}

/**
 * The rules of an edit, read in `db`: the message (locked in a transaction), who may edit it, its
 * new mentions and whether anything would change.
 */
async function judgeEdit(ctx: Context, db: Executor, actor: Actor, messageId: string, input: EditMessage, opts: { lock?: boolean } = {}) {
  const { message, membership } = await requireMessage(db, messageId, actor.userId, opts);
  if (message.senderId !== actor.userId) throw forbidden("Only the sender can edit a message");
  await requireNotBlockedInDirect(db, membership, actor.userId, "edit messages");
  if (message.deletedAt) throw conflict("The message is deleted");
  checkContent(ctx, input.content, message.attachments.length > 0);
  const mentions = input.mentions ? uniqueMentions(input.mentions) : message.mentions;
  const mentionsChanged = mentions.length !== message.mentions.length || mentions.some((id, i) => id !== message.mentions[i]);
  return { message, mentions, mentionsChanged, unchanged: input.content === message.content && !mentionsChanged };
}

/** Stores an edit (and the metadata a moderation hook decided), judged again under the message's lock. */
async function storeEdit(ctx: Context, actor: Actor, messageId: string, input: EditMessage, metadata?: Record<string, unknown>): Promise<Message> {
  const { content } = input;
  return withTransaction(ctx, async (tx, after) => {
    const { message, mentions, mentionsChanged, unchanged } = await judgeEdit(ctx, tx, actor, messageId, input, { lock: true });
    const metadataChanged = metadata !== undefined && !Bun.deepEquals(metadata, message.metadata);
    if (unchanged && !metadataChanged) return (await withReactions(tx, [message]))[0]!;
    if (mentionsChanged) await requireMentionable(tx, message.conversationId, mentions);
    const now = new Date();
    const [row] = await tx
      .update(messages)
      .set({ content, mentions, ...(metadataChanged && { metadata }), editedAt: now, updatedAt: now })
      .where(eq(messages.id, messageId))
      .returning();
    if (mentionsChanged) await indexMentions(tx, row!, mentions);
    const edited = (await withReactions(tx, [row!]))[0]!;
    await recordEvent(ctx, tx, "message.updated", edited);
    after(() =>
      ctx.fanout.toConversation(edited.conversationId, "message:updated", {
        messageId: edited.id,
        conversationId: edited.conversationId,
        content: edited.content,
        mentions: edited.mentions,
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
    await lockThreadOf(tx, messageId);
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
      .set({ content: "", attachments: [], metadata: {}, mentions: [], deletedAt: now, updatedAt: now, pinnedAt: null, pinnedBy: null })
      .where(eq(messages.id, messageId));
    await removeReactions(tx, messageId);
    const thread = message.parentId ? await uncountReply(tx, message) : undefined;
    if (message.mentions.length) await indexMentions(tx, { ...message, mentions: [] }, []);
    const deleted = { messageId, conversationId: message.conversationId, deletedAt: now.toISOString() };
    // A deleted message is unpinned with it, and the room and the host hear of it as of an unpin.
    const unpinned: MessageUnpinned | undefined = message.pinnedAt
      ? { conversationId: message.conversationId, messageId, unpinnedBy: actor.userId, unpinnedAt: deleted.deletedAt }
      : undefined;
    await recordEvents(ctx, tx, [
      { type: "message.deleted", data: { ...deleted, deletedBy: actor.userId } },
      ...(unpinned ? [{ type: "message.unpinned" as const, data: unpinned }] : []),
    ]);
    after(() => ctx.fanout.toConversation(message.conversationId, "message:deleted", deleted));
    if (unpinned) after(() => ctx.fanout.toConversation(message.conversationId, "message:unpinned", unpinned));
    if (thread) after(() => ctx.fanout.toConversation(message.conversationId, "thread:updated", thread));
    return deleted;
  });
}

/**
 * When a message is a reply, locks its parent, before the reply itself is locked: parent first is
 * the order in which sends (which lock the parents they reply to) and a conversation's deletion
 * (oldest rows first) take them. Sends of replies hold the parent's lock until they commit, so
 * every statement after this one sees each reply committed, and no other can commit before this
 * transaction does.
 */
async function lockThreadOf(tx: Transaction, messageId: string): Promise<void> {
  const [message] = await tx.select({ parentId: messages.parentId }).from(messages).where(eq(messages.id, messageId));
  if (message?.parentId) await tx.select({ id: messages.id }).from(messages).where(eq(messages.id, message.parentId)).for("no key update");
}

/**
 * Takes a deleted reply out of its parent's counters: one reply fewer, and lastReplyAt from the
 * newest reply still there. The parent's lock must be held (lockThreadOf), so that the replies
 * this reads are all there are.
 */
async function uncountReply(tx: Transaction, reply: MessageRow): Promise<ThreadUpdated> {
  const parentId = reply.parentId!;
  const newest = tx
    .select({ createdAt: messages.createdAt })
    .from(messages)
    .where(and(eq(messages.parentId, parentId), isNull(messages.deletedAt), ne(messages.id, reply.id)))
    .orderBy(desc(messages.seq))
    .limit(1);
  const [parent] = await tx
    .update(messages)
    .set({ replyCount: sql`greatest(${messages.replyCount} - 1, 0)`, lastReplyAt: sql`(${newest})` })
    .where(eq(messages.id, parentId))
    .returning({ replyCount: messages.replyCount, lastReplyAt: messages.lastReplyAt });
  // The parent is gone for good (retention): nothing to count.
  return threadUpdated(reply.conversationId, { parentId, replyCount: parent?.replyCount ?? 0, lastReplyAt: parent?.lastReplyAt ?? null });
}
