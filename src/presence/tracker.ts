import { eq } from "drizzle-orm";
import type { Context } from "../core/context";
import { users } from "../core/db/schema";
import { withTransaction } from "../core/db/transaction";
import type { ChatServer } from "../core/realtime/handlers";
import { conversationIdsOf } from "../conversations/socket";
import { recordEvent } from "../webhooks/outbox";
import { expireIndicators } from "./indicators";

/**
 * Online/offline transitions. The store decides each one atomically across instances, so a
 * user's second socket, or their last socket on another instance, announces nothing.
 */
export async function connectionOpened(ctx: Context, userId: string, connectionId: string): Promise<void> {
  if (await ctx.store.presenceAdd(userId, connectionId, ctx.config.PRESENCE_TTL_MS)) await announce(ctx, userId, true);
}

/** A ping from the client (or the instance's heartbeat for its live sockets). */
export const connectionAlive = connectionOpened;

export async function connectionClosed(ctx: Context, userId: string, connectionId: string): Promise<void> {
  if (await ctx.store.presenceRemove(userId, connectionId)) await announce(ctx, userId, false);
}

/** Persists lastSeen and the webhook in one transaction, then tells the user's conversations. */
async function announce(ctx: Context, userId: string, online: boolean): Promise<void> {
  const now = new Date();
  const timestamp = now.toISOString();
  const conversationIds = await conversationIdsOf(ctx, userId);
  await withTransaction(ctx, async (tx, after) => {
    await tx.update(users).set({ lastSeenAt: now }).where(eq(users.externalId, userId));
    await recordEvent(ctx, tx, online ? "user.online" : "user.offline", online ? { userId, timestamp } : { userId, lastSeen: timestamp, timestamp });
    after(() => {
      for (const conversationId of conversationIds) {
        if (online) ctx.fanout.toConversation(conversationId, "user:online", { userId, conversationId, timestamp });
        else ctx.fanout.toConversation(conversationId, "user:offline", { userId, conversationId, lastSeen: timestamp, timestamp });
      }
    });
  });
}

/**
 * Timers of every instance: refresh this instance's live sockets, mark offline the users whose
 * every connection expired (an instance died without saying goodbye), and end stale indicators.
 */
export function startPresenceTimers(ctx: Context, io: ChatServer): () => void {
  const guard = (what: string, fn: () => Promise<void>) => () => fn().catch((error) => ctx.log.warn(`${what} failed`, { error }));
  let beating = false;
  const heartbeat = setInterval(
    guard("presence heartbeat", async () => {
      if (beating) return;
      beating = true;
      try {
        for (const socket of io.of("/").sockets.values()) {
          await connectionAlive(ctx, socket.data.actor.userId, socket.data.connectionId);
        }
      } finally {
        beating = false;
      }
    }),
    Math.max(500, Math.floor(ctx.config.PRESENCE_TTL_MS / 3)),
  );
  const sweep = setInterval(
    guard("presence sweep", async () => {
      for (const userId of await ctx.store.presenceSweep()) await announce(ctx, userId, false);
    }),
    Math.max(250, Math.min(2000, Math.floor(ctx.config.PRESENCE_TTL_MS / 4))),
  );
  const indicators = setInterval(guard("indicator sweep", () => expireIndicators(ctx)), Math.max(50, Math.min(250, ctx.config.TYPING_TTL_MS / 4)));
  return () => {
    clearInterval(heartbeat);
    clearInterval(sweep);
    clearInterval(indicators);
  };
}
