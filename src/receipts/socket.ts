import type { Context } from "../core/context";
import { type ChatSocket, onEvent } from "../core/realtime/handlers";
import { SocketConversationRead, SocketMessageRead } from "./model";
import { markConversationRead, markMessageRead } from "./service";

export function registerReceiptHandlers(ctx: Context, socket: ChatSocket): void {
  const { actor } = socket.data;
  onEvent(ctx, socket, "message:read", SocketMessageRead, ({ messageId }) => markMessageRead(ctx, actor, messageId));
  onEvent(ctx, socket, "conversation:read", SocketConversationRead, ({ conversationId, upToMessageId }) =>
    markConversationRead(ctx, actor, conversationId, upToMessageId),
  );
}
