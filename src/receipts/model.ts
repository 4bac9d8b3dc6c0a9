import { type Static, t } from "elysia";
import { Uuid } from "../core/schemas";

export const MessageRead = t.Object({ messageId: t.String(), conversationId: t.String(), userId: t.String(), readAt: t.String({ format: "date-time" }) });
export type MessageRead = Static<typeof MessageRead>;

export const ConversationRead = t.Object({
  conversationId: t.String(),
  userId: t.String(),
  upToMessageId: t.Union([t.String(), t.Null()]),
  count: t.Integer(),
  readAt: t.String({ format: "date-time" }),
});
export type ConversationRead = Static<typeof ConversationRead>;

export const MarkConversationRead = t.Object({ upToMessageId: t.Optional(t.Union([Uuid, t.Null()])) });

export const Reader = t.Object({ userId: t.String(), readAt: t.String({ format: "date-time" }) });
export type Reader = Static<typeof Reader>;

export const UnreadCount = t.Object({ conversationId: t.String(), unreadCount: t.Integer(), lastReadSeq: t.Integer() });
export type UnreadCount = Static<typeof UnreadCount>;

export const SocketMessageRead = t.Object({ messageId: Uuid });
export const SocketConversationRead = t.Object({ conversationId: Uuid, upToMessageId: t.Optional(t.Union([Uuid, t.Null()])) });

export const ReadMessageParams = t.Object({ id: Uuid });
export const ReadConversationParams = t.Object({ id: Uuid });
