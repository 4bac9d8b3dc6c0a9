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

/** `lastReadSeq` is the caller's own marker: below the Participant's after a mark unread. */
export const UnreadCount = t.Object({ conversationId: t.String(), unreadCount: t.Integer(), unreadMentionCount: t.Integer(), lastReadSeq: t.Integer() });
export type UnreadCount = Static<typeof UnreadCount>;

export const UnreadTotals = t.Object({ unreadCount: t.Integer(), unreadMentionCount: t.Integer(), unreadConversations: t.Integer() });
export type UnreadTotals = Static<typeof UnreadTotals>;

export const MarkUnread = t.Object({ messageId: Uuid });
/** The answer to a mark unread, and the `conversation:unread` event to the caller's own sockets. */
export const ConversationUnread = t.Object({ conversationId: t.String(), userId: t.String(), lastReadSeq: t.Integer(), unreadCount: t.Integer() });
export type ConversationUnread = Static<typeof ConversationUnread>;

export const SocketMessageRead = t.Object({ messageId: Uuid });
export const SocketConversationUnread = t.Object({ conversationId: Uuid, messageId: Uuid });
export const SocketConversationRead = t.Object({ conversationId: Uuid, upToMessageId: t.Optional(t.Union([Uuid, t.Null()])) });

export const ReadMessageParams = t.Object({ id: Uuid });
export const ReadConversationParams = t.Object({ id: Uuid });
