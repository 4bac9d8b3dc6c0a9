import type { Context } from "../core/context";
import { conversationRoom } from "../core/realtime/fanout";
import { type ChatSocket, onEvent, takeUserBudget } from "../core/realtime/handlers";
import { requireMembership } from "./membership";
import { RoomPayload } from "./model";

/**
 * Manual room moves; participants are already joined on connect and on being added. A join costs
 * a database read, so joins have a budget per user across all their sockets.
 */
export function registerConversationHandlers(ctx: Context, socket: ChatSocket): void {
  const { actor } = socket.data;
  onEvent(ctx, socket, "room:join", RoomPayload, async ({ conversationId }) => {
    await takeUserBudget(ctx, actor.userId, "room joins", ctx.config.RATE_LIMIT_EVENTS);
    await requireMembership(ctx.db, conversationId, actor.userId);
    await socket.join(conversationRoom(conversationId));
    return { conversationId };
  });
  onEvent(ctx, socket, "room:leave", RoomPayload, async ({ conversationId }) => {
    await socket.leave(conversationRoom(conversationId));
    return { conversationId };
  });
}
