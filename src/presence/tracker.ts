import { inArray } from "drizzle-orm";
import type { Context } from "../core/context";
import { participants, users } from "../core/db/schema";
import { withTransaction } from "../core/db/transaction";
import type { ChatServer } from "../core/realtime/handlers";
import type { Connection, PresenceChange } from "../core/store/types";
import { recordEvents } from "../webhooks/outbox";
import { expireIndicators } from "./indicators";

/** Rows per IN (…) list when a heartbeat or a sweep announces many users at once. */
const BATCH = 500;

/**
 * Presence work still running per instance (connects, disconnects, timers): shutdown waits for it,
 * so that the users of an instance that stops gracefully are announced offline before it exits.
 */
const inFlight = new WeakMap<Context, Set<Promise<void>>>();

/** Runs presence work in the background: errors are logged, never thrown at a socket. */
export function presenceWork(ctx: Context, what: string, work: () => Promise<void>): void {
  let pending = inFlight.get(ctx);
  if (!pending) inFlight.set(ctx, (pending = new Set()));
  const running = work().catch((error) => ctx.log.warn(`${what} failed`, { error }));
  pending.add(running);
  void running.finally(() => pending.delete(running));
}

/**
 * Registers or refreshes connections (a new socket, an activity:ping, or the heartbeat of every
 * socket of the instance, in one store round trip) and announces the users who came online.
 * The store commands are issued before this returns its promise, so a later disconnect's
 * removal is ordered after them.
 */
export async function connectionsAlive(ctx: Context, connections: Connection[]): Promise<void> {
  if (connections.length === 0) return;
  await announce(ctx, await ctx.store.presenceTouch(connections, ctx.config.PRESENCE_TTL_MS), true);
}

export async function connectionClosed(ctx: Context, connection: Connection): Promise<void> {
  const change = await ctx.store.presenceRemove(connection);
  if (change) await announce(ctx, [change], false);
}

/** The changes that are still each user's latest transition; older ones were overtaken. */
async function stillLatest(ctx: Context, changes: PresenceChange[]): Promise<PresenceChange[]> {
  const latest = await ctx.store.presenceGenerations(changes.map((c) => c.userId));
  return changes.filter((c) => latest.get(c.userId) === c.generation);
}

/**
 * Persists lastSeen and the webhooks in one transaction, then tells each user's conversations.
 * A transition overtaken by a newer one (a reload: offline, then online again on another socket,
 * maybe on another instance) is dropped, so that the rooms never end on a stale status.
 */
async function announce(ctx: Context, changes: PresenceChange[], online: boolean): Promise<void> {
  for (let i = 0; i < changes.length; i += BATCH) {
    const current = await stillLatest(ctx, changes.slice(i, i + BATCH));
    if (current.length === 0) continue;
    const userIds = current.map((c) => c.userId);
    const now = new Date();
    const timestamp = now.toISOString();
    const memberships = await ctx.db
      .select({ userId: participants.userId, conversationId: participants.conversationId })
      .from(participants)
      .where(inArray(participants.userId, userIds));
    await withTransaction(ctx, async (tx, after) => {
      await tx.update(users).set({ lastSeenAt: now }).where(inArray(users.externalId, userIds));
      await recordEvents(
        ctx,
        tx,
        userIds.map((userId) =>
          online ? { type: "user.online", data: { userId, timestamp } } : { type: "user.offline", data: { userId, lastSeen: timestamp, timestamp } },
        ),
      );
      after(async () => {
        const still = new Set((await stillLatest(ctx, current)).map((c) => c.userId));
        for (const { userId, conversationId } of memberships) {
          if (!still.has(userId)) continue;
          if (online) ctx.fanout.toConversation(conversationId, "user:online", { userId, conversationId, timestamp });
          else ctx.fanout.toConversation(conversationId, "user:offline", { userId, conversationId, lastSeen: timestamp, timestamp });
        }
      });
    });
  }
}

/** Marks offline the users whose every connection expired, as many as are due. */
async function sweepExpired(ctx: Context): Promise<void> {
  for (;;) {
    const gone = await ctx.store.presenceSweep(BATCH);
    await announce(ctx, gone, false);
    if (gone.length < BATCH) return;
  }
}

/**
 * Timers of every instance: refresh this instance's live sockets, mark offline the users whose
 * every connection expired (an instance died without saying goodbye), and end stale indicators.
 * The returned stop waits for presence work still running.
 */
export function startPresenceTimers(ctx: Context, io: ChatServer): () => Promise<void> {
  const every = (what: string, ms: number, work: () => Promise<void>) => {
    let running = false;
    return setInterval(() => {
      // A slow round must not pile up behind itself.
      if (running) return;
      running = true;
      presenceWork(ctx, what, () => work().finally(() => (running = false)));
    }, ms);
  };
  const heartbeat = every("presence heartbeat", Math.max(500, Math.floor(ctx.config.PRESENCE_TTL_MS / 3)), () => {
    const live: Connection[] = [];
    for (const socket of io.of("/").sockets.values()) {
      if (socket.connected) live.push({ userId: socket.data.actor.userId, connectionId: socket.data.connectionId });
    }
    return connectionsAlive(ctx, live);
  });
  const sweep = every("presence sweep", Math.max(250, Math.min(2000, Math.floor(ctx.config.PRESENCE_TTL_MS / 4))), () => sweepExpired(ctx));
  const indicators = every("indicator sweep", Math.max(50, Math.min(250, Math.floor(ctx.config.TYPING_TTL_MS / 4))), () => expireIndicators(ctx));
  return async () => {
    clearInterval(heartbeat);
    clearInterval(sweep);
    clearInterval(indicators);
    const pending = inFlight.get(ctx);
    while (pending?.size) await Promise.all(pending);
  };
}
