import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import { iso, type List, listOf, pageOf } from "../core/schemas";
import { invalid, notFound } from "../core/errors";
import { decodeUserIdCursor, encodeUserIdCursor } from "../moderation/model";
import type { Presence } from "./model";
import { conversationMembersSeen, type SeenRow, usersSeen } from "./store";

/**
 * Status from the store (live connections on any instance), lastSeen from the database (written
 * when a user comes online and when they go offline). Unknown ids read as offline, never seen.
 */
export async function presenceOf(ctx: Context, userIds: string[], viewerId: string): Promise<Presence[]> {
  const ids = [...new Set(userIds)];
  if (ids.length === 0) return [];
  const [online, seen] = await Promise.all([ctx.store.presenceOnline(ids), usersSeen(ctx.db, ids, viewerId)]);
  const byId = new Map(seen.map((row) => [row.userId, row]));
  return presenceFrom(
    ids.map((userId) => byId.get(userId) ?? { userId, lastSeenAt: null, blockedAt: null }),
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

/**
 * Participants' presence in user id order, `limit` at a time after the cursor (the last id shown).
 * Membership is checked by the same statement: the viewer is a participant when the conversation
 * has any row for them to see; a page past the last participant is told apart by a second look.
 */
export async function conversationPresence(ctx: Context, actor: Actor, conversationId: string, page: { limit: number; cursor?: string }): Promise<List<Presence>> {
  const after = page.cursor === undefined ? undefined : decodeUserIdCursor(page.cursor);
  if (after === null) throw invalid("cursor is not one this API returned", [{ path: "/cursor", message: "malformed" }]);
  const rows = await conversationMembersSeen(ctx.db, conversationId, actor.userId, page.limit + 1, after);
  // The viewer is one of the rows of a first page: none means they are not a participant.
  if (rows.length === 0 && (after === undefined || (await conversationMembersSeen(ctx.db, conversationId, actor.userId, 1)).length === 0)) {
    throw notFound("Conversation");
  }
  const withOnline = async (shown: SeenRow[]) => presenceFrom(shown, await ctx.store.presenceOnline(shown.map((r) => r.userId)));
  return pageOf(rows, page.limit, withOnline, (last) => encodeUserIdCursor(last.userId));
}

export async function batchPresence(ctx: Context, actor: Actor, userIds: string[]): Promise<List<Presence>> {
  return listOf(await presenceOf(ctx, userIds, actor.userId));
}
