import { sql } from "drizzle-orm";
import type { Context } from "../core/context";
import { queryRows } from "../core/db/client";

export type OutboxDepth = { pending: number; due: number; dead: number; oldestPendingAgeMs: number | null };

/** Events waiting in the outbox, shared by every instance (one query on the status index). */
export async function outboxDepth(ctx: Context): Promise<OutboxDepth> {
  const [row] = await queryRows<{ pending: number; due: number; dead: number; oldest_ms: number | null }>(
    ctx.db,
    sql`select
          count(*) filter (where status = 'pending')::int as pending,
          count(*) filter (where status = 'pending' and next_attempt_at <= now())::int as due,
          count(*) filter (where status = 'dead')::int as dead,
          (extract(epoch from now() - min(created_at) filter (where status = 'pending')) * 1000)::float8 as oldest_ms
        from webhook_events
        where status in ('pending', 'dead')`,
  );
  return {
    pending: Number(row?.pending ?? 0),
    due: Number(row?.due ?? 0),
    dead: Number(row?.dead ?? 0),
    oldestPendingAgeMs: row?.oldest_ms == null ? null : Math.round(Number(row.oldest_ms)),
  };
}
