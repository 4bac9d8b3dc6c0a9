import type { Context } from "../context";
import type { Transaction } from "./client";
import { SQLSTATE_CLASS, sqlStateOf } from "./errors";

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

/**
 * How often a transaction runs when PostgreSQL ends it as a deadlock's victim or a serialization
 * failure (class 40: it wrote nothing, and running it again is the remedy the server asks for).
 * Two everyday writes that lock the same rows in different orders (an edit's mention rows checking
 * their conversation while a pin holds it and waits for the edited message) deadlock rarely, and
 * the one that lost is then run after the other one committed.
 */
const ATTEMPTS = 3;

async function commitThenEffects<T>(ctx: Context, work: (tx: Transaction, after: AfterCommit) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    // Each attempt collects its own: only the one that committed has effects to run.
    const effects: (() => void | Promise<void>)[] = [];
    let result: T;
    try {
      result = await ctx.db.transaction((tx) => work(tx, (effect) => effects.push(effect)));
    } catch (error) {
      if (attempt >= ATTEMPTS || !sqlStateOf(error)?.startsWith(SQLSTATE_CLASS.TRANSACTION_ROLLBACK)) throw error;
      ctx.log.info("transaction run again", { attempt, sqlState: sqlStateOf(error) });
      continue;
    }
    await runCommitted(ctx, effects);
    return result;
  }
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
