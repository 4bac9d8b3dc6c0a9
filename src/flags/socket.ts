import type { Context } from "../core/context";
import { type ChatSocket, onEvent } from "../core/realtime/handlers";
import { SocketFlagMessage } from "./model";
import { flagMessage } from "./service";

export function registerFlagHandlers(ctx: Context, socket: ChatSocket): void {
  const { actor } = socket.data;
  onEvent(ctx, socket, "message:flag", SocketFlagMessage, async ({ messageId, ...input }) => (await flagMessage(ctx, actor, messageId, input)).flag);
}
