import { conversationRoom } from "../core/realtime/fanout";
import { on, type SocketEvents, takeUserBudget } from "../core/realtime/handlers";
import { requireMembership } from "./membership";
import { RoomPayload } from "./model";

/**
 * Manual room moves; participants are already joined on connect and on being added. A join costs
 * a database read, so joins have a budget per user across all their sockets.
 */
export const conversationEvents: SocketEvents = {
  "room:join": on(RoomPayload, async (ctx, socket, { conversationId }) => {
    const { actor } = socket.data;
    await takeUserBudget(ctx, actor.userId, "room joins", ctx.config.RATE_LIMIT_EVENTS);
    await requireMembership(ctx.db, conversationId, actor.userId);
    await socket.join(conversationRoom(conversationId));
    return { conversationId };
  }),
  "room:leave": on(RoomPayload, async (_ctx, socket, { conversationId }) => {
    await socket.leave(conversationRoom(conversationId));
    return { conversationId };
  }),
};
