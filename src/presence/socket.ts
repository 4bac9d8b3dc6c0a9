import type { Context } from "../core/context";
import { conversationRoom } from "../core/realtime/fanout";
import { type ChatSocket, onEvent } from "../core/realtime/handlers";
import { OptionalEmpty } from "../core/realtime/server";
import { notFound } from "../core/errors";
import { IndicatorPayload } from "./model";
import { type IndicatorType, indicatorKey, startIndicator, stopIndicator } from "./indicators";
import { connectionClosed, connectionOpened, connectionAlive } from "./tracker";

/**
 * Presence and typing/recording for one socket: it counts as a live connection from now until it
 * disconnects (or stops pinging and expires), and the indicators it started end with it.
 */
export function registerPresenceHandlers(ctx: Context, socket: ChatSocket): void {
  const { actor, connectionId } = socket.data;
  connectionOpened(ctx, actor.userId, connectionId).catch((error) => ctx.log.error("presence connect failed", { error }));

  const indicator = (type: IndicatorType, active: boolean) => async ({ conversationId }: { conversationId: string }) => {
    if (!socket.rooms.has(conversationRoom(conversationId))) throw notFound("Conversation");
    const key = indicatorKey(type, conversationId, actor.userId);
    if (active) {
      socket.data.indicators.add(key);
      await startIndicator(ctx, key);
    } else {
      socket.data.indicators.delete(key);
      await stopIndicator(ctx, key);
    }
    return {};
  };
  onEvent(ctx, socket, "typing:start", IndicatorPayload, indicator("typing", true));
  onEvent(ctx, socket, "typing:stop", IndicatorPayload, indicator("typing", false));
  onEvent(ctx, socket, "recording:start", IndicatorPayload, indicator("recording", true));
  onEvent(ctx, socket, "recording:stop", IndicatorPayload, indicator("recording", false));
  onEvent(ctx, socket, "activity:ping", OptionalEmpty, async () => {
    await connectionAlive(ctx, actor.userId, connectionId);
    return {};
  });

  socket.on("disconnect", async () => {
    try {
      for (const key of socket.data.indicators) await stopIndicator(ctx, key);
      await connectionClosed(ctx, actor.userId, connectionId);
    } catch (error) {
      ctx.log.error("presence disconnect failed", { userId: actor.userId, error });
    }
  });
}
