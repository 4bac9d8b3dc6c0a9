import { eq } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import { conversations } from "../core/db/schema";
import { withTransaction } from "../core/db/transaction";
import { invalid } from "../core/errors";
import { checkMetadata, checkStorable } from "../core/schemas";
import { recordEvent } from "../webhooks/outbox";
import { requireNotBlockedInDirect } from "../moderation/store";
import { requireManager, requireMembership } from "./membership";
import type { Conversation, ConversationUpdated, UpdateConversation } from "./model";
import { buildConversations } from "./view";

/** What a direct conversation has no use for: it has no name, and no one in it is exempt from slow mode. */
const GROUP_ONLY = ["name", "slowModeSeconds"] as const;

/**
 * Changes a conversation's settings: owner/admin of a group; either side of a direct one, and
 * then `metadata` only. `metadata` replaces the stored object. Announced to the room and to the
 * webhook once committed; a body that changes nothing is announced all the same (it was asked).
 */
export async function updateConversation(ctx: Context, actor: Actor, conversationId: string, input: UpdateConversation): Promise<Conversation> {
  const given = (["name", "metadata", "slowModeSeconds"] as const).filter((field) => input[field] !== undefined);
  if (given.length === 0) throw invalid("Give at least one of name, metadata, slowModeSeconds");
  checkMetadata(input.metadata);
  checkStorable(input.name, "/name");
  return withTransaction(ctx, async (tx, after) => {
    // The conversation's lock: sends judge slow mode under it, so they see the change or precede it.
    const m = await requireMembership(tx, conversationId, actor.userId, { lock: true });
    if (m.conversation.type === "direct") {
      const refused = GROUP_ONLY.filter((field) => input[field] !== undefined);
      if (refused.length) {
        throw invalid(`A direct conversation takes metadata only, not ${refused.join(" or ")}`, refused.map((field) => ({ path: `/${field}`, message: "not for a direct conversation" })));
      }
      // Metadata reaches the other side (conversation:updated): a way around their block.
      await requireNotBlockedInDirect(tx, m, actor.userId, "change this conversation");
    } else {
      requireManager(m, "change a group's settings");
    }
    const [row] = await tx
      .update(conversations)
      .set({ name: input.name, metadata: input.metadata, slowModeSeconds: input.slowModeSeconds, updatedAt: new Date() })
      .where(eq(conversations.id, conversationId))
      .returning();
    const updated: ConversationUpdated = {
      conversationId,
      name: row!.name,
      metadata: row!.metadata,
      slowModeSeconds: row!.slowModeSeconds,
      updatedBy: actor.userId,
      updatedAt: row!.updatedAt.toISOString(),
    };
    await recordEvent(ctx, tx, "conversation.updated", updated);
    after(() => ctx.fanout.toConversation(conversationId, "conversation:updated", updated));
    return (await buildConversations(tx, [row!], actor.userId))[0]!;
  });
}
