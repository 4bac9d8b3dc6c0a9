import { and, count, eq } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import type { Transaction } from "../core/db/client";
import { reactions } from "../core/db/schema";
import { withTransaction } from "../core/db/transaction";
import { conflict } from "../core/errors";
import { type List, listOf } from "../core/schemas";
import type { ReactionSummary } from "../messages/model";
import { requireMessage } from "../messages/service";
import { requireNotBlockedInDirect } from "../moderation/store";
import { recordEvent } from "../webhooks/outbox";
import { normalizeEmoji } from "./emoji";
import type { ReactionChange } from "./model";
import { reactionSummaries } from "./store";

/** Different emojis one user may put on one message. */
const MAX_EMOJIS_PER_USER = 25;

async function totalOf(tx: Transaction, messageId: string, emoji: string) {
  return tx.$count(reactions, and(eq(reactions.messageId, messageId), eq(reactions.emoji, emoji)));
}

/**
 * Adds the caller's reaction. The message row is locked so that concurrent reactions report
 * consistent totals. Reacting twice with one emoji changes nothing (`created: false`).
 */
export async function addReaction(ctx: Context, actor: Actor, messageId: string, rawEmoji: string): Promise<{ reaction: ReactionChange; created: boolean }> {
  const emoji = normalizeEmoji(rawEmoji);
  return withTransaction(ctx, async (tx, after) => {
    const { message, membership } = await requireMessage(tx, messageId, actor.userId, { lock: true });
    await requireNotBlockedInDirect(tx, membership, actor.userId, "react");
    if (message.deletedAt) throw conflict("The message is deleted");
    const inserted = await tx.insert(reactions).values({ messageId, emoji, userId: actor.userId }).onConflictDoNothing().returning({ emoji: reactions.emoji });
    if (inserted.length) {
      const [mine] = await tx.select({ n: count() }).from(reactions).where(and(eq(reactions.messageId, messageId), eq(reactions.userId, actor.userId)));
      if ((mine?.n ?? 0) > MAX_EMOJIS_PER_USER) throw conflict(`At most ${MAX_EMOJIS_PER_USER} different reactions per message`);
    }
    const reaction = { messageId, conversationId: message.conversationId, emoji, userId: actor.userId, totalCount: await totalOf(tx, messageId, emoji) };
    if (inserted.length) {
      await recordEvent(ctx, tx, "reaction.added", reaction);
      after(() => ctx.fanout.toConversation(message.conversationId, "reaction:added", reaction));
    }
    return { reaction, created: inserted.length > 0 };
  });
}

/** Removes the caller's reaction; removing one that is not there changes nothing. */
export async function removeReaction(ctx: Context, actor: Actor, messageId: string, rawEmoji: string): Promise<ReactionChange> {
  const emoji = normalizeEmoji(rawEmoji);
  return withTransaction(ctx, async (tx, after) => {
    const { message } = await requireMessage(tx, messageId, actor.userId, { lock: true });
    const removed = await tx
      .delete(reactions)
      .where(and(eq(reactions.messageId, messageId), eq(reactions.emoji, emoji), eq(reactions.userId, actor.userId)))
      .returning({ emoji: reactions.emoji });
    const reaction = { messageId, conversationId: message.conversationId, emoji, userId: actor.userId, totalCount: await totalOf(tx, messageId, emoji) };
    if (removed.length) {
      await recordEvent(ctx, tx, "reaction.removed", reaction);
      after(() => ctx.fanout.toConversation(message.conversationId, "reaction:removed", reaction));
    }
    return reaction;
  });
}

export async function listReactions(ctx: Context, actor: Actor, messageId: string): Promise<List<ReactionSummary>> {
  await requireMessage(ctx.db, messageId, actor.userId);
  return listOf((await reactionSummaries(ctx.db, [messageId])).get(messageId) ?? []);
}
