import { and, eq, inArray, isNull } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import { participants, users } from "../core/db/schema";
import { notFound } from "../core/errors";
import { iso, type List, listOf } from "../core/schemas";
import { requireMembership } from "../conversations/membership";
import type { Presence } from "./model";

/**
 * Status from the store (live connections on any instance), lastSeen from the database (written
 * when a user comes online and when they go offline). Unknown ids read as offline, never seen.
 */
export async function presenceOf(ctx: Context, userIds: string[]): Promise<Presence[]> {
  const ids = [...new Set(userIds)];
  if (ids.length === 0) return [];
  const [online, seen] = await Promise.all([
    ctx.store.presenceOnline(ids),
    ctx.db.select({ id: users.externalId, lastSeenAt: users.lastSeenAt }).from(users).where(inArray(users.externalId, ids)),
  ]);
  const lastSeen = new Map(seen.map((u) => [u.id, u.lastSeenAt]));
  return ids.map((userId) => ({ userId, status: online.has(userId) ? "online" : "offline", lastSeen: iso(lastSeen.get(userId)) }));
}

export async function userPresence(ctx: Context, userId: string): Promise<Presence> {
  const [user] = await ctx.db.select({ id: users.externalId }).from(users).where(and(eq(users.externalId, userId), isNull(users.deletedAt)));
  if (!user) throw notFound("User");
  return (await presenceOf(ctx, [userId]))[0]!;
}

/** Participants' presence, in user id order; with a `limit`, the first that many and whether there are more. */
export async function conversationPresence(ctx: Context, actor: Actor, conversationId: string, limit?: number): Promise<List<Presence>> {
  await requireMembership(ctx.db, conversationId, actor.userId);
  const query = ctx.db
    .select({ userId: participants.userId })
    .from(participants)
    .where(eq(participants.conversationId, conversationId))
    .orderBy(participants.userId);
  const members = limit === undefined ? await query : await query.limit(limit + 1);
  const hasMore = limit !== undefined && members.length > limit;
  return listOf(await presenceOf(ctx, members.slice(0, limit).map((m) => m.userId)), hasMore);
}

export async function batchPresence(ctx: Context, userIds: string[]): Promise<List<Presence>> {
  return listOf(await presenceOf(ctx, userIds));
}
