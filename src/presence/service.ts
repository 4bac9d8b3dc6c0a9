import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import { iso, type List, listOf, pageOf } from "../core/schemas";
import { memberIds, requireMembership } from "../conversations/membership";
import { lastSeenOf } from "../users/store";
import type { Presence } from "./model";

/**
 * Status from the store (live connections on any instance), lastSeen from the database (written
 * when a user comes online and when they go offline). Unknown ids read as offline, never seen.
 */
export async function presenceOf(ctx: Context, userIds: string[]): Promise<Presence[]> {
  const ids = [...new Set(userIds)];
  if (ids.length === 0) return [];
  const [online, lastSeen] = await Promise.all([ctx.store.presenceOnline(ids), lastSeenOf(ctx.db, ids)]);
  return ids.map((userId) => ({ userId, status: online.has(userId) ? "online" : "offline", lastSeen: iso(lastSeen.get(userId)) }));
}

/** As in the batch: an id nobody synced (or deleted) reads as offline, so no read tells which ids exist. */
export async function userPresence(ctx: Context, userId: string): Promise<Presence> {
  return (await presenceOf(ctx, [userId]))[0]!;
}

/** Participants' presence, in user id order; with a `limit`, the first that many and whether there are more. */
export async function conversationPresence(ctx: Context, actor: Actor, conversationId: string, limit?: number): Promise<List<Presence>> {
  await requireMembership(ctx.db, conversationId, actor.userId);
  if (limit === undefined) return listOf(await presenceOf(ctx, await memberIds(ctx.db, conversationId)));
  return pageOf(await memberIds(ctx.db, conversationId, limit + 1), limit, (page) => presenceOf(ctx, page));
}

export async function batchPresence(ctx: Context, userIds: string[]): Promise<List<Presence>> {
  return listOf(await presenceOf(ctx, userIds));
}
