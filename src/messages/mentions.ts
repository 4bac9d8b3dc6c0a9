import { and, eq, inArray } from "drizzle-orm";
import type { Transaction } from "../core/db/client";
import { type MessageRow, mentions, participants } from "../core/db/schema";
import { AppError } from "../core/errors";

/* The mention index (the `mentions` table): written by the send statement, kept here for edits and deletions. */

/** 400 naming the mentioned ids that are not participants of the conversation (sends and edits). */
export const mentionRefusal = (userIds: string[]) =>
  new AppError("VALIDATION_ERROR", `Mentioned user${userIds.length > 1 ? "s are" : " is"} not in the conversation: ${userIds.slice(0, 5).join(", ")}`, { userIds });

/** A message mentions each user once, in the order first given. */
export const uniqueMentions = (userIds: readonly string[]): string[] => [...new Set(userIds)];

/**
 * Refuses (400, `details.userIds`) mentions of users who are not participants of the conversation
 * now. The participants found stay key-share locked until the transaction ends, so that a removal
 * running at the same time waits rather than leaves a mention of a non-participant behind.
 */
export async function requireMentionable(tx: Transaction, conversationId: string, userIds: string[]): Promise<void> {
  if (userIds.length === 0) return;
  const found = await tx
    .select({ userId: participants.userId })
    .from(participants)
    .where(and(eq(participants.conversationId, conversationId), inArray(participants.userId, userIds)))
    .for("key share");
  const present = new Set(found.map((p) => p.userId));
  const missing = userIds.filter((id) => !present.has(id));
  if (missing.length) throw mentionRefusal(missing);
}

/** Replaces the index rows of a message whose mentions changed (`[]` when it is deleted). */
export async function indexMentions(tx: Transaction, message: MessageRow, userIds: string[]): Promise<void> {
  await tx.delete(mentions).where(eq(mentions.messageId, message.id));
  const rows = userIds
    .filter((userId) => userId !== message.senderId)
    .map((userId) => ({ userId, conversationId: message.conversationId, seq: message.seq, messageId: message.id }));
  if (rows.length) await tx.insert(mentions).values(rows);
}
