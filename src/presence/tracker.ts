import { and, eq, inArray, lte } from "drizzle-orm";
import type { Context } from "../core/context";
import { conversations, participants, users } from "../core/db/schema";
import { usersInLockOrder } from "../core/db/lock-order";
import { withTransaction } from "../core/db/transaction";
import type { ChatServer, ChatSocket } from "../core/realtime/handlers";
import type { Connection, PresenceChange } from "../core/store/types";
import { blockedBy } from "../moderation/store";
import { recordEvents } from "../webhooks/outbox";
import { expireIndicators } from "./indicators";

/** A socket's entry in the presence store: `<instance>:<socket id>`, made when needed rather than kept per socket. */
export const connectionOf = (ctx: Context, socket: ChatSocket): Connection => ({ userId: socket.data.actor.userId, connectionId: `${ctx.instanceId}:${socket.id}` });

/** Rows per IN (…) list when a heartbeat or a sweep announces many users at once. */
const BATCH = 500;

/** Sockets refreshed per store round trip by the heartbeat: one presence script call. */
const HEARTBEAT_SLICE = 500;

type Transition = PresenceChange & { online: boolean };

/**
 * Transitions wait this long to be announced together: when an instance dies, thousands of
 * users reconnect to the others within seconds, and each batch costs the database three
 * statements instead of three per user.
 */
const ANNOUNCE_WINDOW_MS = 20;

/**
 * The presence of one instance's connections: registers and refreshes them, announces who came
 * online or went offline (in batches), and runs the timers of every instance.
 */
export class PresenceTracker {
  /**
   * Presence work still running (connects, disconnects, timers): stop() waits for it, so that the
   * users of an instance that stops gracefully are announced offline before it exits.
   */
  private readonly inFlight = new Set<Promise<void>>();
  private due = new Map<string, Transition>();
  private flushing: Promise<void> | undefined;
  private timers: ReturnType<typeof setInterval>[] = [];

  constructor(private readonly ctx: Context) {}

  /** Runs presence work in the background: errors are logged, never thrown at a socket. */
  work(what: string, work: () => Promise<void>): void {
    const running = work().catch((error) => this.ctx.log.warn(`${what} failed`, { error }));
    this.inFlight.add(running);
    this.ctx.drain.track(running);
    void running.finally(() => this.inFlight.delete(running));
  }

  /**
   * Registers or refreshes connections (a new socket, an activity:ping, or the heartbeat of every
   * socket of the instance, in one store round trip) and announces the users who came online.
   * The store commands are issued before this returns its promise, so a later disconnect's
   * removal is ordered after them.
   */
  async connectionsAlive(connections: Connection[]): Promise<void> {
    if (connections.length === 0) return;
    await this.announceSoon(await this.ctx.store.presenceTouch(connections, this.ctx.config.PRESENCE_TTL_MS), true);
  }

  async connectionClosed(connection: Connection): Promise<void> {
    const change = await this.ctx.store.presenceRemove(connection);
    if (change) await this.announceSoon([change], false);
  }

  /**
   * Timers: refresh this instance's live sockets, mark offline the users whose every connection
   * expired (an instance died without saying goodbye), and end stale indicators.
   */
  start(io: ChatServer): void {
    const { ctx } = this;
    const every = (what: string, ms: number, work: () => Promise<void>) => {
      let running = false;
      return setInterval(() => {
        // A slow round must not pile up behind itself; while Redis is unreachable every round
        // would fail (the first heartbeat after it is back brings this instance's users online again).
        if (running || !ctx.store.ready) return;
        running = true;
        this.work(what, () => work().finally(() => (running = false)));
      }, ms);
    };
    this.timers = [
      every("presence heartbeat", Math.max(500, Math.floor(ctx.config.PRESENCE_TTL_MS / 3)), () => this.heartbeat(io)),
      every("presence sweep", Math.max(250, Math.min(2000, Math.floor(ctx.config.PRESENCE_TTL_MS / 4))), () => this.sweepExpired()),
      every("indicator sweep", Math.max(50, Math.min(250, Math.floor(ctx.config.TYPING_TTL_MS / 4))), () => expireIndicators(ctx)),
    ];
  }

  /**
   * Refreshes every live socket of this instance, one slice at a time: the store's commands of
   * one connection run in order, so refreshing 50,000 sockets at once would queue a message
   * send's rate-limit check behind a hundred presence scripts (half a second and more). A slice
   * is taken from the sockets still connected when it is sent, so a socket that closed meanwhile
   * (its removal already queued) is never refreshed back.
   */
  private async heartbeat(io: ChatServer): Promise<void> {
    const sockets = [...io.of("/").sockets.values()];
    for (let i = 0; i < sockets.length; i += HEARTBEAT_SLICE) {
      const live: Connection[] = [];
      for (let j = i; j < Math.min(sockets.length, i + HEARTBEAT_SLICE); j++) {
        const socket = sockets[j]!;
        if (socket.connected) live.push(connectionOf(this.ctx, socket));
      }
      await this.connectionsAlive(live);
    }
  }

  /** Stops the timers and waits for presence work still running. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    while (this.inFlight.size) await Promise.all(this.inFlight);
  }

  /** Queues transitions for the next batch; resolves once that batch was announced. */
  private announceSoon(changes: PresenceChange[], online: boolean): Promise<void> {
    if (changes.length === 0) return Promise.resolve();
    // Only a user's latest transition can still be announced.
    for (const change of changes) {
      const queued = this.due.get(change.userId);
      if (!queued || queued.generation < change.generation) this.due.set(change.userId, { ...change, online });
    }
    return (this.flushing ??= (async () => {
      await Bun.sleep(ANNOUNCE_WINDOW_MS);
      const batch = [...this.due.values()];
      this.due = new Map();
      this.flushing = undefined;
      for (let i = 0; i < batch.length; i += BATCH) {
        await announce(this.ctx, batch.slice(i, i + BATCH)).catch((error) => this.ctx.log.warn("presence announcement failed", { users: batch.length, error }));
      }
    })());
  }

  /** Marks offline the users whose every connection expired, as many as are due. */
  private async sweepExpired(): Promise<void> {
    for (;;) {
      const gone = await this.ctx.store.presenceSweep(BATCH);
      await this.announceSoon(gone, false);
      if (gone.length < BATCH) return;
    }
  }
}

/** The transitions that are still each user's latest; older ones were overtaken. */
async function stillLatest(ctx: Context, transitions: Transition[]): Promise<Transition[]> {
  const latest = await ctx.store.presenceGenerations(transitions.map((t) => t.userId));
  return transitions.filter((t) => latest.get(t.userId) === t.generation);
}

/**
 * Persists lastSeen and the webhooks in one transaction, then tells each user's conversations.
 * A transition overtaken by a newer one (a reload: offline, then online again on another socket,
 * maybe on another instance) is dropped, so that the rooms never end on a stale status.
 */
async function announce(ctx: Context, transitions: Transition[]): Promise<void> {
  const current = await stillLatest(ctx, transitions);
  if (current.length === 0) return;
  const userIds = current.map((t) => t.userId);
  const now = new Date();
  const timestamp = now.toISOString();
  // A user coming online in a crowded room would be one delivery to every member, and a
  // reconnect storm there quadratic: such rooms learn presence by asking instead.
  const memberships = await ctx.db
    .select({ userId: participants.userId, conversationId: participants.conversationId })
    .from(participants)
    .innerJoin(conversations, eq(conversations.id, participants.conversationId))
    .where(and(inArray(participants.userId, userIds), lte(conversations.memberCount, ctx.config.PRESENCE_MAX_ROOM_SIZE)));
  // Users a transitioning user blocks do not hear about it (they read that user as offline).
  const blocked = await blockedBy(ctx.db, userIds);
  await withTransaction(ctx, async (tx, after) => {
    // Locked first, in the one order users are locked in: an update takes rows in whatever
    // order it finds them. "No key update", as the update itself takes: it leaves the key-share
    // locks of foreign keys alone (a conversation being created checks its creator's row that way,
    // outside this order), so the two never wait on each other in a cycle.
    await tx.select({ id: users.externalId }).from(users).where(inArray(users.externalId, userIds)).orderBy(usersInLockOrder).for("no key update");
    await tx.update(users).set({ lastSeenAt: now }).where(inArray(users.externalId, userIds));
    await recordEvents(
      ctx,
      tx,
      current.map(({ userId, online }) =>
        online ? { type: "user.online", data: { userId, timestamp } } : { type: "user.offline", data: { userId, lastSeen: timestamp, timestamp } },
      ),
    );
    after(async () => {
      const still = new Map((await stillLatest(ctx, current)).map((t) => [t.userId, t.online]));
      for (const { userId, conversationId } of memberships) {
        const online = still.get(userId);
        const except = blocked.get(userId);
        if (online === true) ctx.fanout.toConversation(conversationId, "user:online", { userId, conversationId, timestamp }, except);
        else if (online === false) ctx.fanout.toConversation(conversationId, "user:offline", { userId, conversationId, lastSeen: timestamp, timestamp }, except);
      }
    });
  });
}
