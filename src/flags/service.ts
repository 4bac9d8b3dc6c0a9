import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import type { MessageFlagRow } from "../core/db/schema";
import { withTransaction } from "../core/db/transaction";
import { conflict } from "../core/errors";
import { checkStorable, type List, pageOf } from "../core/schemas";
import { requireMessage } from "../messages/service";
import { recordEvent } from "../webhooks/outbox";
import type { FlagMessage, FlagPage, MessageFlag } from "./model";
import { decodeFlagCursor, encodeFlagCursor, findFlag, flagQueue, insertFlag } from "./store";

const toFlag = (row: MessageFlagRow): MessageFlag => ({
  messageId: row.messageId,
  conversationId: row.conversationId,
  userId: row.userId,
  reason: row.reason,
  createdAt: row.createdAt.toISOString(),
});

/**
 * A participant reports a message for review. Each user flags a message once: flagging it again
 * answers the stored flag (`created: false`) and changes nothing, reason included. A deleted
 * message has nothing left to review and cannot be flagged (CONFLICT), unless already flagged.
 * Blocks do not matter here: reporting is what a blocked conversation may need most.
 */
export async function flagMessage(ctx: Context, actor: Actor, messageId: string, input: FlagMessage): Promise<{ flag: MessageFlag; created: boolean }> {
  checkStorable(input.reason, "/reason");
  return withTransaction(ctx, async (tx) => {
    const { message } = await requireMessage(tx, messageId, actor.userId);
    const stored = await findFlag(tx, messageId, actor.userId);
    if (stored) return { flag: toFlag(stored), created: false };
    if (message.deletedAt) throw conflict("The message is deleted");
    const row = await insertFlag(tx, { messageId, userId: actor.userId, conversationId: message.conversationId, reason: input.reason ?? null });
    // Another request of the same user stored it first: theirs is the flag.
    if (!row) return { flag: toFlag((await findFlag(tx, messageId, actor.userId))!), created: false };
    const flag = toFlag(row);
    await recordEvent(ctx, tx, "message.flagged", flag);
    return { flag, created: true };
  });
}

/** GET /api/flags (internal): the review queue, newest first. */
export async function listFlags(ctx: Context, page: FlagPage): Promise<List<MessageFlag>> {
  const limit = page.limit ?? 50;
  const cursor = page.cursor === undefined ? undefined : decodeFlagCursor(page.cursor);
  const rows = await flagQueue(ctx.db, limit + 1, cursor);
  return pageOf(rows, limit, (shown) => shown.map(toFlag), encodeFlagCursor);
}
