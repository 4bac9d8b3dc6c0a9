import { and, eq } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import { participants } from "../core/db/schema";
import { withTransaction } from "../core/db/transaction";
import { futureTime } from "../core/schemas";
import { requireMembership } from "./membership";
import type { ConversationMute } from "./model";

/**
 * The caller mutes a conversation for themself: until `until` (ISO-8601, in the future), or until
 * they unmute it. Muting again replaces the time. Only the caller's Conversation shows it (no
 * room event: room events are the same for every reader); notifications read it.
 */
export async function muteConversation(ctx: Context, actor: Actor, conversationId: string, until?: string): Promise<ConversationMute> {
  const mutedUntil = until === undefined ? null : futureTime(until, "/until");
  await setMute(ctx, actor, conversationId, true, mutedUntil);
  return { conversationId, muted: true, mutedUntil: mutedUntil?.toISOString() ?? null };
}

/** Unmutes; unmuting a conversation that is not muted changes nothing. */
export async function unmuteConversation(ctx: Context, actor: Actor, conversationId: string): Promise<void> {
  await setMute(ctx, actor, conversationId, false, null);
}

async function setMute(ctx: Context, actor: Actor, conversationId: string, muted: boolean, mutedUntil: Date | null) {
  await withTransaction(ctx, async (tx) => {
    await requireMembership(tx, conversationId, actor.userId);
    await tx
      .update(participants)
      .set({ muted, mutedUntil })
      .where(and(eq(participants.conversationId, conversationId), eq(participants.userId, actor.userId)));
  });
}
