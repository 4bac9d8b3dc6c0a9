import { on, type SocketEvents } from "../core/realtime/handlers";
import { SocketReaction } from "./model";
import { addReaction, removeReaction } from "./service";

export const reactionEvents: SocketEvents = {
  "reaction:add": on(SocketReaction, async (ctx, { data: { actor } }, { messageId, emoji }) => (await addReaction(ctx, actor, messageId, emoji)).reaction),
  "reaction:remove": on(SocketReaction, (ctx, { data: { actor } }, { messageId, emoji }) => removeReaction(ctx, actor, messageId, emoji)),
};
