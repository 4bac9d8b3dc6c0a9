import type { Context } from "../core/context";
import { type ChatSocket, onEvent } from "../core/realtime/handlers";
import { SocketReaction } from "./model";
import { addReaction, removeReaction } from "./service";

export function registerReactionHandlers(ctx: Context, socket: ChatSocket): void {
  const { actor } = socket.data;
  onEvent(ctx, socket, "reaction:add", SocketReaction, async ({ messageId, emoji }) => (await addReaction(ctx, actor, messageId, emoji)).reaction);
  onEvent(ctx, socket, "reaction:remove", SocketReaction, ({ messageId, emoji }) => removeReaction(ctx, actor, messageId, emoji));
}
