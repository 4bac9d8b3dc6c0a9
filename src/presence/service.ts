import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import { iso, type List, listOf, pageOf } from "../core/schemas";
import { memberIds, requireMembership } from "../conversations/membership";
import { blockersOf } from "../moderation/store";
import { lastSeenOf } from "../users/store";
import type { Presence } from "./model";

/**
 * Status from the store (live connections on any instance), lastSeen from the database (written
 * when a user comes online and when they go offline). Unknown ids read as offline, never seen.
 */
export async function presenceOf(ctx: Context, userIds: string[], viewerId: string): Promise<Presence[]> {
  const ids = [...new Set(userIds)];
  if (ids.length === 0) return [];
  const [online, lastSeen, blockers] = await Promise.all([ctx.store.presenceOnline(ids), lastSeenOf(ctx.db, ids), blockersOf(ctx.db, viewerId, ids)]);
  return ids.map((userId) => {
    // Someone who blocks the viewer reads as offline, last seen no later than the block.
    const blockedAt = blockers.get(userId);
    if (blockedAt) return { userId, status: "offline", lastSeen: iso(earlier(lastSeen.get(userId), blockedAt)) };
    return { userId, status: online.has(userId) ? "online" : "offline", lastSeen: iso(lastSeen.get(userId)) };
  });
}

const earlier = (a: Date | null | undefined, b: Date) => (a && a < b ? a : b);

/** As in the batch: an id nobody synced (or deleted) reads as offline, so no read tells which ids exist. */
export async function userPresence(ctx: Context, actor: Actor, userId: string): Promise<Presence> {
  return (await presenceOf(ctx, [userId], actor.userId))[0]!;
}

/** Participants' presence, in user id order; with a `limit`, the first that many and whether there are more. */
export async function conversationPresence(ctx: Context, actor: Actor, conversationId: string, limit?: number): Promise<List<Presence>> {
  await requireMembership(ctx.db, conversationId, actor.userId);
  if (limit === undefined) return listOf(await presenceOf(ctx, await memberIds(ctx.db, conversationId), actor.userId));
  return pageOf(await memberIds(ctx.db, conversationId, limit + 1), limit, (page) => presenceOf(ctx, page, actor.userId));
}

export async function batchPresence(ctx: Context, actor: Actor, userIds: string[]): Promise<List<Presence>> {
  return listOf(await presenceOf(ctx, userIds, actor.userId));
}
