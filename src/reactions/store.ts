import { asc, eq, inArray, type Placeholder, sql } from "drizzle-orm";
import type { Executor, Transaction } from "../core/db/client";
import { preparedStatements } from "../core/db/prepared";
import { reactions } from "../core/db/schema";
import type { ReactionSummary } from "../messages/model";

/** Reaction summaries per message, each emoji in the order it was first used. */
export async function reactionSummaries(db: Executor, messageIds: string[]): Promise<Map<string, ReactionSummary[]>> {
  const result = new Map<string, ReactionSummary[]>();
  if (messageIds.length === 0) return result;
  const prepared = statements(db);
  const rows = prepared ? await prepared.reactions.execute({ ids: messageIds }) : await reactionsQuery(db, messageIds);
  for (const row of rows) {
    let list = result.get(row.messageId);
    if (!list) result.set(row.messageId, (list = []));
    let entry = list.find((r) => r.emoji === row.emoji);
    if (!entry) list.push((entry = { emoji: row.emoji, count: 0, userIds: [] }));
    entry.count++;
    entry.userIds.push(row.userId);
  }
  return result;
}

const reactionsQuery = (db: Executor, ids: string[] | Placeholder) =>
  db
    .select({ messageId: reactions.messageId, emoji: reactions.emoji, userId: reactions.userId })
    .from(reactions)
    // A prepared statement takes the list as one array parameter; a built query lists them.
    .where(Array.isArray(ids) ? inArray(reactions.messageId, ids) : sql`${reactions.messageId} = any(${ids}::uuid[])`)
    // The emoji last: one user's reactions of one moment come in one order, as the page lists them.
    .orderBy(asc(reactions.createdAt), asc(reactions.userId), asc(reactions.emoji));

const statements = preparedStatements((db) => ({
  reactions: reactionsQuery(db, sql.placeholder("ids")).prepare("message_reactions"),
}));

/** Every reaction on a message (it was deleted: its tombstone carries none). */
export async function removeReactions(tx: Transaction, messageId: string): Promise<void> {
  await tx.delete(reactions).where(eq(reactions.messageId, messageId));
}
