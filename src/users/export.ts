import { and, asc, eq, gt, inArray, sql } from "drizzle-orm";
import type { Context } from "../core/context";
import { conversations, messages, participants, reactions, readMarks, users } from "../core/db/schema";
import { notFound } from "../core/errors";
import { iso } from "../core/schemas";
import { withReactions } from "../messages/service";
import { toUser } from "./service";

/*
 * GET /api/users/:id/export: everything of a user, as one JSON document
 * `{ user, conversations, messages, reactions, reads }`, streamed a page at a time.
 */

/** Rows per query: one page is all the export holds in memory, however long the user's history. */
const PAGE = 1000;

/**
 * The user's export as a streamed JSON response. A deleted (or erasing) user can be exported too;
 * a user never synced is NOT_FOUND (answered before the stream starts, in the error format).
 *
 * - `conversations`: those the user is a participant of, with their membership (role, joinedAt,
 *   read watermark, mute).
 * - `messages`: every message they sent, as the API shows them (deleted and erased ones as
 *   tombstones), in id order.
 * - `reactions`: theirs, `{ messageId, conversationId, emoji, createdAt }`.
 * - `reads`: per conversation of theirs, the watermark and the kept read marks `{ seq, readAt }`.
 *
 * Each list is read with keyset paging (no transaction held open, no cursor pinned to a
 * connection), so a page is what memory holds while the client reads; the stream pulls the next
 * page only when the previous one has been taken (backpressure). Not a snapshot: a change made
 * while the export runs may or may not be in it.
 */
export async function exportUser(ctx: Context, externalUserId: string): Promise<Response> {
  const [user] = await ctx.db.select().from(users).where(eq(users.externalId, externalUserId));
  if (!user) throw notFound("User");
  const parts = exportParts(ctx, externalUserId, JSON.stringify(toUser(user)));
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await parts.next();
        if (done) controller.close();
        else controller.enqueue(encoder.encode(value));
      } catch (error) {
        ctx.log.error("export failed", { error, userId: externalUserId });
        controller.error(error);
      }
    },
    async cancel() {
      await parts.return(undefined);
    },
  });
  return new Response(stream, { headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" } });
}

/** The document's text, a page of items at a time. */
async function* exportParts(ctx: Context, userId: string, user: string): AsyncGenerator<string, void, undefined> {
  yield `{"user":${user},"conversations":[`;
  yield* list(conversationPages(ctx, userId));
  yield `],"messages":[`;
  yield* list(messagePages(ctx, userId));
  yield `],"reactions":[`;
  yield* list(reactionPages(ctx, userId));
  yield `],"reads":[`;
  yield* list(readPages(ctx, userId));
  yield "]}";
}

/** The items of the pages, comma separated: one string per page. */
async function* list(pages: AsyncGenerator<unknown[]>): AsyncGenerator<string> {
  let first = true;
  for await (const page of pages) {
    if (page.length === 0) continue;
    const text = page.map((item) => JSON.stringify(item)).join(",");
    yield first ? text : `,${text}`;
    first = false;
  }
}

async function* membershipPages(ctx: Context, userId: string) {
  let after: string | undefined;
  for (;;) {
    const rows = await ctx.db
      .select({ conversation: conversations, participant: participants })
      .from(participants)
      .innerJoin(conversations, eq(conversations.id, participants.conversationId))
      .where(and(eq(participants.userId, userId), after ? gt(participants.conversationId, after) : undefined))
      .orderBy(asc(participants.conversationId))
      .limit(PAGE);
    if (rows.length) yield rows;
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1]!.participant.conversationId;
  }
}

async function* conversationPages(ctx: Context, userId: string) {
  for await (const rows of membershipPages(ctx, userId)) {
    yield rows.map(({ conversation: c, participant: p }) => ({
      id: c.id,
      type: c.type,
      name: c.name,
      metadata: c.metadata,
      createdBy: c.createdBy,
      createdAt: c.createdAt.toISOString(),
      membership: { role: p.role, joinedAt: p.joinedAt.toISOString(), lastReadSeq: p.lastReadSeq, muted: p.muted, mutedUntil: iso(p.mutedUntil) },
    }));
  }
}

async function* messagePages(ctx: Context, userId: string) {
  let after: string | undefined;
  for (;;) {
    // The (sender_id, id) index: each page starts where the last ended, whatever came before it.
    const rows = await ctx.db
      .select()
      .from(messages)
      .where(and(eq(messages.senderId, userId), after ? gt(messages.id, after) : undefined))
      .orderBy(asc(messages.id))
      .limit(PAGE);
    if (rows.length) yield await withReactions(ctx.db, rows);
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1]!.id;
  }
}

async function* reactionPages(ctx: Context, userId: string) {
  let after: { messageId: string; emoji: string } | undefined;
  for (;;) {
    const rows = await ctx.db
      .select({ messageId: reactions.messageId, conversationId: messages.conversationId, emoji: reactions.emoji, createdAt: reactions.createdAt })
      .from(reactions)
      .innerJoin(messages, eq(messages.id, reactions.messageId))
      .where(and(eq(reactions.userId, userId), after ? sql`(${reactions.messageId}, ${reactions.emoji}) > (${after.messageId}::uuid, ${after.emoji})` : undefined))
      .orderBy(asc(reactions.messageId), asc(reactions.emoji))
      .limit(PAGE);
    if (rows.length) yield rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() }));
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1]!;
  }
}

async function* readPages(ctx: Context, userId: string) {
  for await (const rows of membershipPages(ctx, userId)) {
    const ids = rows.map((r) => r.participant.conversationId);
    const marks = await ctx.db
      .select({ conversationId: readMarks.conversationId, seq: readMarks.seq, readAt: readMarks.readAt })
      .from(readMarks)
      .where(and(eq(readMarks.userId, userId), inArray(readMarks.conversationId, ids)))
      .orderBy(asc(readMarks.conversationId), asc(readMarks.seq));
    const byConversation = Map.groupBy(marks, (m) => m.conversationId);
    yield rows.map(({ participant: p }) => ({
      conversationId: p.conversationId,
      lastReadSeq: p.lastReadSeq,
      lastReadAt: iso(p.lastReadAt),
      marks: (byConversation.get(p.conversationId) ?? []).map((m) => ({ seq: m.seq, readAt: m.readAt.toISOString() })),
    }));
  }
}
