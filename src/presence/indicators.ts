import type { Context } from "../core/context";

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

const SWEEP_BATCH = 500;

/** Ends indicators whose TTL passed, as many as are due; the store hands each to one instance only. */
export async function expireIndicators(ctx: Context): Promise<void> {
  for (;;) {
    const due = await ctx.store.indicatorSweep(SWEEP_BATCH);
    for (const key of due) announce(ctx, key, false);
    if (due.length < SWEEP_BATCH) return;
  }
}
