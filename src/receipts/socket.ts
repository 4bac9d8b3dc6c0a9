import { OptionalEmpty, on, type SocketEvents } from "../core/realtime/handlers";
import { SocketConversationRead, SocketConversationUnread, SocketMessageRead } from "./model";
import { markConversationRead, markMessageRead, markUnread, unreadTotals } from "./service";

export const receiptEvents: SocketEvents = {
  "message:read": on(SocketMessageRead, (ctx, { data: { actor } }, { messageId }) => markMessageRead(ctx, actor, messageId)),
  "conversation:read": on(SocketConversationRead, (ctx, { data: { actor } }, { conversationId, upToMessageId }) =>
    markConversationRead(ctx, actor, conversationId, upToMessageId),
  ),
  "conversation:unread": on(SocketConversationUnread, (ctx, { data: { actor } }, { conversationId, messageId }) =>
    markUnread(ctx, actor, conversationId, messageId),
  ),
  "unread:get": on(OptionalEmpty, (ctx, { data: { actor } }) => unreadTotals(ctx, actor)),
};
