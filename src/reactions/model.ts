import { type Static, t } from "elysia";
import { ListOf, Uuid } from "../core/schemas";
import { ReactionSummary } from "../messages/model";

/** Validated for shape here; the service checks that it is one emoji or a :short_code:. */
export const Emoji = t.String({ minLength: 1, maxLength: 64 });
export const AddReaction = t.Object({ emoji: Emoji });

export const ReactionChange = t.Object({
  messageId: t.String(),
  conversationId: t.String(),
  emoji: t.String(),
  userId: t.String(),
  totalCount: t.Integer(),
});
export type ReactionChange = Static<typeof ReactionChange>;
export const ReactionList = ListOf(ReactionSummary);

export const ReactionParams = t.Object({ id: Uuid });
export const ReactionEmojiParams = t.Object({ id: Uuid, emoji: Emoji });
export const SocketReaction = t.Object({ messageId: Uuid, emoji: Emoji });
