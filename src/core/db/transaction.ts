import type { Context } from "../context";
import type { Transaction } from "./client";

/** Work to do once the transaction committed (fan-out to sockets); never runs after a rollback. */
export type AfterCommit = (effect: () => void | Promise<void>) => void;

/**
 * Runs `work` in one database transaction and then its after-commit effects, in order. An effect
 * that fails is logged: the change is committed and its webhook is in the outbox, so the failure
 * of a realtime push must not turn a committed write into an error for the caller.
 */
export function withTransaction<T>(ctx: Context, work: (tx: Transaction, after: AfterCommit) => Promise<T>): Promise<T> {
  // Counted while in flight, so that a shutdown closes the pool only after it committed or failed.
  return ctx.drain.track(commitThenEffects(ctx, work));
}

async function commitThenEffects<T>(ctx: Context, work: (tx: Transaction, after: AfterCommit) => Promise<T>): Promise<T> {
  const effects: (() => void | Promise<void>)[] = [];
  const result = await ctx.db.transaction((tx) => work(tx, (effect) => effects.push(effect)));
  await runCommitted(ctx, effects);
  return result;
}

/** Runs the effects of a change that committed, in order: one that fails is logged, never thrown. */
export async function runCommitted(ctx: Context, effects: (() => void | Promise<void>)[]): Promise<void> {
  for (const effect of effects) {
    try {
      await effect();
    } catch (error) {
      ctx.log.error("after-commit effect failed", { error });
    }
  }
}
