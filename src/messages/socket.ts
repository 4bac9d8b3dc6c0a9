import { catchUpGate } from "../core/realtime/catch-up";
import { on, type SocketEvents, takeUserBudget } from "../core/realtime/handlers";
import { SocketDeleteMessage, SocketEditMessage, SocketListPins, SocketPinMessage, SocketSendMessage, SocketSyncMessages, SocketThreadReplies } from "./model";
import { listPins, pinMessage, unpinMessage } from "./pins";
import { deleteMessage, editMessage, listReplies, sendMessage, syncMessages } from "./service";

export const messageEvents: SocketEvents = {
  "message:send": on(SocketSendMessage, async (ctx, { data: { actor } }, { conversationId, ...input }) => {
    await takeUserBudget(ctx, actor.userId, "messages", ctx.config.RATE_LIMIT_MESSAGES);
    return (await sendMessage(ctx, actor, conversationId, input)).message;
  }),
  "message:edit": on(SocketEditMessage, (ctx, { data: { actor } }, { messageId, ...input }) => editMessage(ctx, actor, messageId, input)),
  "message:delete": on(SocketDeleteMessage, (ctx, { data: { actor } }, { messageId }) => deleteMessage(ctx, actor, messageId)),
  "messages:sync": on(SocketSyncMessages, (ctx, { data: { actor } }, { conversationId, ...from }) =>
    catchUpGate(ctx).run(() => syncMessages(ctx, actor, conversationId, from)),
  ),
  "message:pin": on(SocketPinMessage, (ctx, { data: { actor } }, { messageId }) => pinMessage(ctx, actor, messageId)),
  "message:unpin": on(SocketPinMessage, (ctx, { data: { actor } }, { messageId }) => unpinMessage(ctx, actor, messageId)),
  "pins:list": on(SocketListPins, (ctx, { data: { actor } }, { conversationId, ...page }) => listPins(ctx, actor, conversationId, page)),
  "thread:replies": on(SocketThreadReplies, (ctx, { data: { actor } }, { parentId, ...page }) => listReplies(ctx, actor, parentId, page)),
};
