import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import { iso, type List, listOf, pageOf } from "../core/schemas";
import { notFound } from "../core/errors";
import { blockersOf } from "../moderation/store";
import { lastSeenOf } from "../users/store";
import type { Presence } from "./model";
import { conversationMembersSeen, type SeenRow } from "./store";

/**
 * Status from the store (live connections on any instance), lastSeen from the database (written
 * when a user comes online and when they go offline). Unknown ids read as offline, never seen.
 */
export async function presenceOf(ctx: Context, userIds: string[], viewerId: string): Promise<Presence[]> {
  const ids = [...new Set(userIds)];
  if (ids.length === 0) return [];
  const [online, lastSeen, blockers] = await Promise.all([ctx.store.presenceOnline(ids), lastSeenOf(ctx.db, ids), blockersOf(ctx.db, viewerId, ids)]);
  return presenceFrom(
    ids.map((userId) => ({ userId, lastSeenAt: lastSeen.get(userId) ?? null, blockedAt: blockers.get(userId) ?? null })),
    online,
  );
}

/** Someone who blocks the viewer reads as offline, last seen no later than the block. */
const presenceFrom = (rows: SeenRow[], online: Set<string>): Presence[] =>
  rows.map(({ userId, lastSeenAt, blockedAt }) =>
    blockedAt
      ? { userId, status: "offline", lastSeen: iso(earlier(lastSeenAt, blockedAt)) }
      : { userId, status: online.has(userId) ? "online" : "offline", lastSeen: iso(lastSeenAt) },
  );

const earlier = (a: Date | null | undefined, b: Date) => (a && a < b ? a : b);

/** As in the batch: an id nobody synced (or deleted) reads as offline, so no read tells which ids exist. */
export async function userPresence(ctx: Context, actor: Actor, userId: string): Promise<Presence> {
  return (await presenceOf(ctx, [userId], actor.userId))[0]!;
}

/** Participants' presence, in user id order; with a `limit`, the first that many and whether there are more. */
export async function conversationPresence(ctx: Context, actor: Actor, conversationId: string, limit?: number): Promise<List<Presence>> {
  const rows = await conversationMembersSeen(ctx.db, conversationId, actor.userId, limit === undefined ? undefined : limit + 1);
  // The viewer is one of the rows: none means they are not a participant.
  if (rows.length === 0) throw notFound("Conversation");
  const withOnline = async (page: SeenRow[]) => presenceFrom(page, await ctx.store.presenceOnline(page.map((r) => r.userId)));
  if (limit === undefined) return listOf(await withOnline(rows));
  return pageOf(rows, limit, withOnline);
}

export async function batchPresence(ctx: Context, actor: Actor, userIds: string[]): Promise<List<Presence>> {
  return listOf(await presenceOf(ctx, userIds, actor.userId));
}
