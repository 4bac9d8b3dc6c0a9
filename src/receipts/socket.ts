import type { Context } from "../core/context";
import { type ChatSocket, OptionalEmpty, onEvent } from "../core/realtime/handlers";
import { SocketConversationRead, SocketConversationUnread, SocketMessageRead } from "./model";
import { markConversationRead, markMessageRead, markUnread, unreadTotals } from "./service";

export function registerReceiptHandlers(ctx: Context, socket: ChatSocket): void {
  const { actor } = socket.data;
  onEvent(ctx, socket, "message:read", SocketMessageRead, ({ messageId }) => markMessageRead(ctx, actor, messageId));
  onEvent(ctx, socket, "conversation:read", SocketConversationRead, ({ conversationId, upToMessageId }) =>
    markConversationRead(ctx, actor, conversationId, upToMessageId),
  );
  onEvent(ctx, socket, "conversation:unread", SocketConversationUnread, ({ conversationId, messageId }) => markUnread(ctx, actor, conversationId, messageId));
  onEvent(ctx, socket, "unread:get", OptionalEmpty, () => unreadTotals(ctx, actor));
}
