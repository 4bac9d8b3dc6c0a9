import { on, type SocketEvents } from "../core/realtime/handlers";
import { SocketFlagMessage } from "./model";
import { flagMessage } from "./service";

export const flagEvents: SocketEvents = {
  "message:flag": on(SocketFlagMessage, async (ctx, { data: { actor } }, { messageId, ...input }) => (await flagMessage(ctx, actor, messageId, input)).flag),
};
