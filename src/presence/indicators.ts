import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import { conversationRoom } from "../core/realtime/fanout";
import { requireMembership } from "../conversations/membership";
import { forbidden } from "../core/errors";
import { directBlocks } from "../moderation/store";

export type IndicatorType = "typing" | "recording";

/** One key per user, conversation and kind; `|` cannot occur in ids. */
export const indicatorKey = (type: IndicatorType, conversationId: string, userId: string) => `${type}|${conversationId}|${userId}`;

function parseKey(key: string) {
  const [type, conversationId, userId] = key.split("|") as [IndicatorType, string, string];
  return { type, conversationId, userId };
}

/** Tells the room, but not the user's own sockets, that an indicator turned on or off. */
function announce(ctx: Context, key: string, isActive: boolean) {
  const { type, conversationId, userId } = parseKey(key);
  const event = type === "typing" ? "user:typing" : "user:recording";
  ctx.fanout.toConversation(conversationId, event, { conversationId, userId, type, isActive, timestamp: new Date().toISOString() }, userId);
}

/** A repeated start only extends the TTL: the room hears about a change once, however often a client sends. */
export async function startIndicator(ctx: Context, key: string): Promise<void> {
  if (await ctx.store.indicatorStart(key, ctx.config.TYPING_TTL_MS)) announce(ctx, key, true);
}

/** Stop, expiry and disconnect race for one key; the store lets only the first of them announce. */
export async function stopIndicator(ctx: Context, key: string): Promise<void> {
  if (await ctx.store.indicatorStop(key)) announce(ctx, key, false);
}

/** What the indicator rules need of the socket that asks. */
export type IndicatorSocket = { readonly connected: boolean; readonly rooms: ReadonlySet<string>; readonly data: { indicators?: Set<string> } };

/**
 * Starts or stops the caller's indicator in a conversation. The socket remembers the ones it
 * started, so that its disconnect ends them (see endIndicators); a socket already disconnected
 * starts none, or one would outlive it.
 */
export async function changeIndicator(ctx: Context, actor: Actor, socket: IndicatorSocket, type: IndicatorType, conversationId: string, active: boolean): Promise<void> {
  // The room is the cheap proof of membership; a participant who left the room by hand is checked in the database.
  if (!socket.rooms.has(conversationRoom(conversationId))) await requireMembership(ctx.db, conversationId, actor.userId);
  const key = indicatorKey(type, conversationId, actor.userId);
  if (!active) {
    socket.data.indicators?.delete(key);
    await stopIndicator(ctx, key);
  } else if (socket.connected) {
    // In a direct conversation: refused to someone the other side blocks; not shown to someone the caller blocks.
    const { blockedByOther, blocksOther } = await directBlocks(ctx.db, conversationId, actor.userId);
    if (blockedByOther) throw forbidden(`You cannot show ${type} in this conversation`);
    if (blocksOther || !socket.connected) return;
    (socket.data.indicators ??= new Set()).add(key);
    await startIndicator(ctx, key);
  }
}

/** A socket went away: the indicators it started end with it. */
export async function endIndicators(ctx: Context, socket: IndicatorSocket): Promise<void> {
  await Promise.all([...(socket.data.indicators ?? [])].map((key) => stopIndicator(ctx, key)));
}

const SWEEP_BATCH = 500;

/** Ends indicators whose TTL passed, as many as are due; the store hands each to one instance only. */
export async function expireIndicators(ctx: Context): Promise<void> {
  for (;;) {
    const due = await ctx.store.indicatorSweep(SWEEP_BATCH);
    for (const key of due) announce(ctx, key, false);
    if (due.length < SWEEP_BATCH) return;
  }
}
