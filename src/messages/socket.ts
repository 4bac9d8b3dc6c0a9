import type { Context } from "../core/context";
import { type ChatSocket, onEvent, takeUserBudget } from "../core/realtime/handlers";
import { SocketDeleteMessage, SocketEditMessage, SocketListPins, SocketPinMessage, SocketSendMessage, SocketSyncMessages, SocketThreadReplies } from "./model";
import { listPins, pinMessage, unpinMessage } from "./pins";
import { deleteMessage, editMessage, listReplies, sendMessage, syncMessages } from "./service";

export function registerMessageHandlers(ctx: Context, socket: ChatSocket): void {
  const { actor } = socket.data;
  onEvent(ctx, socket, "message:send", SocketSendMessage, async ({ conversationId, ...input }) => {
    await takeUserBudget(ctx, actor.userId, "messages", ctx.config.RATE_LIMIT_MESSAGES);
    return (await sendMessage(ctx, actor, conversationId, input)).message;
  });
  onEvent(ctx, socket, "message:edit", SocketEditMessage, ({ messageId, ...input }) => editMessage(ctx, actor, messageId, input));
  onEvent(ctx, socket, "message:delete", SocketDeleteMessage, ({ messageId }) => deleteMessage(ctx, actor, messageId));
  onEvent(ctx, socket, "messages:sync", SocketSyncMessages, ({ conversationId, ...from }) =>
    syncMessages(ctx, actor, conversationId, from),
  );
  onEvent(ctx, socket, "message:pin", SocketPinMessage, ({ messageId }) => pinMessage(ctx, actor, messageId));
  onEvent(ctx, socket, "message:unpin", SocketPinMessage, ({ messageId }) => unpinMessage(ctx, actor, messageId));
  onEvent(ctx, socket, "pins:list", SocketListPins, ({ conversationId, ...page }) => listPins(ctx, actor, conversationId, page));
  onEvent(ctx, socket, "thread:replies", SocketThreadReplies, ({ parentId, ...page }) => listReplies(ctx, actor, parentId, page));
}
