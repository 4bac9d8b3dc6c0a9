import { and, desc, eq, isNotNull, lt, or } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import type { Transaction } from "../core/db/client";
import { type MessageRow, messages } from "../core/db/schema";
import { withTransaction } from "../core/db/transaction";
import { decodeCursor, encodeCursor } from "../core/cursor";
import { AppError, conflict, forbidden, notFound } from "../core/errors";
import { type List, pageOf } from "../core/schemas";
import { isManager, type Membership, requireMembership } from "../conversations/membership";
import { recordEvent } from "../webhooks/outbox";
import type { Message, MessagePinned, MessageUnpinned, PinPage } from "./model";
import { withReactions } from "./service";

/** Messages one conversation may have pinned at once. */
export const MAX_PINS_PER_CONVERSATION = 50;

/** Who may pin and unpin: either side of a direct conversation, an owner or admin of a group. */
function requirePinner(m: Membership): void {
  if (m.conversation.type === "group" && !isManager(m.participant)) throw forbidden("Only an owner or admin can pin and unpin messages");
}

/**
 * The message to pin or unpin and the caller's membership of its conversation, both locked:
 * the conversation's row first (the order sends take them in), then the message's. Outsiders get
 * NOT_FOUND, as for any message.
 */
async function lockForPin(tx: Transaction, actor: Actor, messageId: string): Promise<{ message: MessageRow; membership: Membership }> {
  const [found] = await tx.select({ conversationId: messages.conversationId }).from(messages).where(eq(messages.id, messageId));
  if (!found) throw notFound("Message");
  const membership = await requireMembership(tx, found.conversationId, actor.userId, { lock: true }).catch((error: unknown) => {
    throw error instanceof AppError && error.code === "NOT_FOUND" ? notFound("Message") : error;
  });
  requirePinner(membership);
  // The conversation of a message never changes: the row found above is this one.
  const [message] = await tx.select().from(messages).where(eq(messages.id, messageId)).for("no key update");
  if (!message) throw notFound("Message");
  return { message, membership };
}

const pinnedOf = (row: MessageRow): MessagePinned => ({
  messageId: row.id,
  conversationId: row.conversationId,
  pinnedBy: row.pinnedBy!,
  pinnedAt: row.pinnedAt!.toISOString(),
});

/**
 * Pins a message to its conversation. Pinning a pinned message changes nothing and answers its
 * pin as it is. The cap is counted while the conversation's row is locked, so that concurrent
 * pins, on any number of instances, never take a conversation past it. A deleted message cannot
 * be pinned (CONFLICT, as editing or reacting to it).
 */
export async function pinMessage(ctx: Context, actor: Actor, messageId: string): Promise<MessagePinned> {
  return withTransaction(ctx, async (tx, after) => {
    const { message } = await lockForPin(tx, actor, messageId);
    if (message.pinnedAt) return pinnedOf(message);
    if (message.deletedAt) throw conflict("The message is deleted");
    const pinned = await tx.$count(messages, and(eq(messages.conversationId, message.conversationId), isNotNull(messages.pinnedAt)));
    if (pinned >= MAX_PINS_PER_CONVERSATION) throw conflict(`A conversation has at most ${MAX_PINS_PER_CONVERSATION} pinned messages`);
    const [row] = await tx
      .update(messages)
      .set({ pinnedAt: new Date(), pinnedBy: actor.userId })
      .where(eq(messages.id, messageId))
      .returning();
    const pin = pinnedOf(row!);
    await recordEvent(ctx, tx, "message.pinned", pin);
    after(() => ctx.fanout.toConversation(pin.conversationId, "message:pinned", pin));
    return pin;
  });
}

/**
 * Unpins a message. A message that is not pinned stays so, and nothing is announced; the answer
 * says who asked and when all the same.
 */
export async function unpinMessage(ctx: Context, actor: Actor, messageId: string): Promise<MessageUnpinned> {
  return withTransaction(ctx, async (tx, after) => {
    const { message } = await lockForPin(tx, actor, messageId);
    const unpinnedAt = new Date();
    const unpinned = { conversationId: message.conversationId, messageId, unpinnedBy: actor.userId, unpinnedAt: unpinnedAt.toISOString() };
    if (!message.pinnedAt) return unpinned;
    await tx.update(messages).set({ pinnedAt: null, pinnedBy: null }).where(eq(messages.id, messageId));
    await recordEvent(ctx, tx, "message.unpinned", unpinned);
    after(() => ctx.fanout.toConversation(unpinned.conversationId, "message:unpinned", unpinned));
    return unpinned;
  });
}

/** A conversation's pinned messages, most recently pinned first (from messages_pinned_idx). */
export async function listPins(ctx: Context, actor: Actor, conversationId: string, page: PinPage): Promise<List<Message>> {
  const limit = page.limit ?? 50;
  const cursor = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
  await requireMembership(ctx.db, conversationId, actor.userId);
  const rows = await ctx.db
    .select()
    .from(messages)
    .where(
      and(
        eq(messages.conversationId, conversationId),
        isNotNull(messages.pinnedAt),
        cursor && or(lt(messages.pinnedAt, cursor.at), and(eq(messages.pinnedAt, cursor.at), lt(messages.id, cursor.id))),
      ),
    )
    .orderBy(desc(messages.pinnedAt), desc(messages.id))
    .limit(limit + 1);
  return pageOf(rows, limit, (shown) => withReactions(ctx.db, shown), (last) => encodeCursor({ at: last.pinnedAt!, id: last.id }));
}
