import type { Context } from "../core/context";
import { type ChatSocket, OptionalEmpty, onEvent, takeUserBudget } from "../core/realtime/handlers";
import { IndicatorPayload, PresencePayload } from "./model";
import { conversationPresence } from "./service";
import { changeIndicator, endIndicators, type IndicatorType } from "./indicators";
import type { PresenceTracker } from "./tracker";

/** Rows of one `presence:get` answer; a bigger conversation answers `hasMore: true`. */
export const PRESENCE_SNAPSHOT_MAX = 1000;

/**
 * Presence and typing/recording for one socket: it counts as a live connection from now until it
 * disconnects (or stops being refreshed and expires), and the indicators it started end with it.
 *
 * Ordering matters here: each store command for this connection is issued synchronously from a
 * handler that first checks `socket.connected`, so that the disconnect's removal always reaches
 * the store after them and no stale entry or indicator outlives the socket.
 */
export function registerPresenceHandlers(ctx: Context, presence: PresenceTracker, socket: ChatSocket): void {
  const { actor, connectionId } = socket.data;
  const connection = { userId: actor.userId, connectionId };
  presence.work("presence connect", () => presence.connectionsAlive([connection]));

  // One socket's indicator changes apply in the order they arrived: a start looks up blocks in the
  // database first, and a stop sent right after it must not overtake it.
  let indicatorChanges: Promise<unknown> = Promise.resolve();
  const indicator = (type: IndicatorType, active: boolean) => async ({ conversationId }: { conversationId: string }) => {
    await takeUserBudget(ctx, actor.userId, "indicator changes", ctx.config.RATE_LIMIT_EVENTS);
    const change = indicatorChanges.then(() => changeIndicator(ctx, actor, socket, type, conversationId, active));
    indicatorChanges = change.catch(() => {});
    await change;
    return {};
  };
  onEvent(ctx, socket, "typing:start", IndicatorPayload, indicator("typing", true));
  onEvent(ctx, socket, "typing:stop", IndicatorPayload, indicator("typing", false));
  onEvent(ctx, socket, "recording:start", IndicatorPayload, indicator("recording", true));
  onEvent(ctx, socket, "recording:stop", IndicatorPayload, indicator("recording", false));
  onEvent(ctx, socket, "presence:get", PresencePayload, async ({ conversationId }) => {
    await takeUserBudget(ctx, actor.userId, "presence reads", ctx.config.RATE_LIMIT_EVENTS);
    const { data, hasMore } = await conversationPresence(ctx, actor, conversationId, PRESENCE_SNAPSHOT_MAX);
    return { data, hasMore };
  });
  onEvent(ctx, socket, "activity:ping", OptionalEmpty, async () => {
    if (socket.connected) await presence.connectionsAlive([connection]);
    return {};
  });

  socket.on("disconnect", () =>
    presence.work("presence disconnect", async () => {
      await endIndicators(ctx, socket);
      await presence.connectionClosed(connection);
    }),
  );
}
