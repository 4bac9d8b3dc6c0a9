import type { Context } from "../core/context";
import { catchUpGate } from "../core/realtime/catch-up";
import { type ChatSocket, OptionalEmpty, on, type SocketFeature, takeUserBudget } from "../core/realtime/handlers";
import { IndicatorPayload, PresencePayload } from "./model";
import { conversationPresence } from "./service";
import { changeIndicator, endIndicators, type IndicatorType } from "./indicators";
import { connectionOf, type PresenceTracker } from "./tracker";

/** Rows of one `presence:get` answer; a bigger conversation answers `hasMore: true`. */
export const PRESENCE_SNAPSHOT_MAX = 1000;


/**
 * One socket's indicator changes apply in the order they arrived: a start looks up blocks in the
 * database first, and a stop sent right after it must not overtake it.
 */
const indicator = (type: IndicatorType, active: boolean) =>
  on(IndicatorPayload, async (ctx: Context, socket: ChatSocket, { conversationId }) => {
    const { actor } = socket.data;
    await takeUserBudget(ctx, actor.userId, "indicator changes", ctx.config.RATE_LIMIT_EVENTS);
    const change = (socket.data.indicatorChanges ?? Promise.resolve()).then(() => changeIndicator(ctx, actor, socket, type, conversationId, active));
    socket.data.indicatorChanges = change.catch(() => {});
    await change;
    return {};
  });

/**
 * Presence and typing/recording for one socket: it counts as a live connection from now until it
 * disconnects (or stops being refreshed and expires), and the indicators it started end with it.
 *
 * Ordering matters here: each store command for this connection is issued synchronously from a
 * handler that first checks `socket.connected`, so that the disconnect's removal always reaches
 * the store after them and no stale entry or indicator outlives the socket.
 */
export function presenceFeature(presence: PresenceTracker): SocketFeature {
  return {
    events: {
      "typing:start": indicator("typing", true),
      "typing:stop": indicator("typing", false),
      "recording:start": indicator("recording", true),
      "recording:stop": indicator("recording", false),
      "presence:get": on(PresencePayload, async (ctx, { data: { actor } }, { conversationId }) => {
        await takeUserBudget(ctx, actor.userId, "presence reads", ctx.config.RATE_LIMIT_EVENTS);
        const { data, hasMore } = await catchUpGate(ctx).run(() => conversationPresence(ctx, actor, conversationId, { limit: PRESENCE_SNAPSHOT_MAX }));
        return { data, hasMore };
      }),
      "activity:ping": on(OptionalEmpty, async (ctx, socket) => {
        if (socket.connected) await presence.connectionsAlive([connectionOf(ctx, socket)]);
        return {};
      }),
    },
    connected(ctx, socket) {
      const connection = connectionOf(ctx, socket);
      presence.work("presence connect", () => presence.connectionsAlive([connection]));
    },
    disconnected(ctx, socket) {
      const connection = connectionOf(ctx, socket);
      presence.work("presence disconnect", async () => {
        await endIndicators(ctx, socket);
        await presence.connectionClosed(connection);
      });
    },
  };
}
