import type { RedisClient } from "../core/store/redis";
import type { Context } from "../core/context";
import { appliedCount, migrationCount } from "../core/db/migrate";
import { AppError } from "../core/errors";
import { TimeoutError, within } from "./deadline";

/** A dependency slower than this counts as down: a load balancer's probe must get an answer within a second. */
const CHECK_TIMEOUT_MS = 800;

export type ReadinessParts = { ctx: Context; redis?: Record<string, RedisClient>; draining: () => boolean };
export type Readiness = { status: "ready"; checks: Record<string, string> };

/** The outcome of one check: "ok", or why not, in words safe to show (no hosts, no SQL). */
async function check(what: string, run: () => Promise<string | undefined>): Promise<string> {
  try {
    return (await within(run(), CHECK_TIMEOUT_MS, what)) ?? "ok";
  } catch (error) {
    return error instanceof TimeoutError ? "timeout" : "unreachable";
  }
}

/**
 * Ready means this instance can serve: the database answers and has every embedded migration,
 * Redis (when configured) answers and the adapter's connections are up, and it is not shutting
 * down. Anything else is UNAVAILABLE, so that a load balancer sends traffic elsewhere.
 */
export async function checkReadiness({ ctx, redis, draining }: ReadinessParts): Promise<Readiness> {
  const [database, migrations, store] = await Promise.all([
    check("database", () => ctx.storage.ping().then(() => undefined)),
    check("migrations", async () => {
      const applied = await appliedCount(ctx.db);
      return applied >= migrationCount() ? undefined : `pending (${applied} of ${migrationCount()} applied)`;
    }),
    ctx.store.kind === "redis"
      ? check("redis", async () => {
          await ctx.store.ping();
          const down = Object.entries(redis ?? {}).filter(([, r]) => r.status !== "ready");
          return down.length ? `not connected: ${down.map(([role]) => role).join(", ")}` : undefined;
        })
      : Promise.resolve("not configured (in-process store)"),
  ]);
  const checks: Record<string, string> = { database, migrations, redis: store, shutdown: draining() ? "in progress" : "no" };
  const failing = [
    database !== "ok" && "database",
    migrations !== "ok" && "migrations",
    ctx.store.kind === "redis" && store !== "ok" && "redis",
    draining() && "shutting down",
  ].filter(Boolean);
  if (failing.length) throw new AppError("UNAVAILABLE", `Not ready: ${failing.join(", ")}`, { checks });
  return { status: "ready", checks };
}
