import { and, asc, inArray, sql } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import type { Transaction } from "../core/db/client";
import { isUniqueViolation } from "../core/db/errors";
import { conversations, type MessageRow, messages, participants } from "../core/db/schema";
import { withTransaction } from "../core/db/transaction";
import { invalid, notFound } from "../core/errors";
import { recordEvents } from "../webhooks/outbox";
import type { Message, SendMessage } from "./model";
import { toMessage } from "./service";

export type QueuedSend = { actor: Actor; conversationId: string; input: SendMessage };
export type SendResult = { row: MessageRow; created: boolean };

type Pending = QueuedSend & { resolve(result: SendResult): void; reject(error: unknown): void };

/** Sends committed together at most; bounds the statement size and the wait of the last one. */
const MAX_BATCH = 256;

/**
 * Group commit for message sends. One batch is in flight at a time; sends that arrive meanwhile
 * wait and go together in the next transaction. An idle service therefore commits each send at
 * once, on its own, while a busy one pays one commit for many messages instead of one each.
 *
 * A batch is one transaction: the conversations it touches are locked in id order (so batches
 * on several instances cannot deadlock), seqs are handed out from each conversation's counter in
 * arrival order, and the rows, the counters and the outbox events commit together. Seqs stay
 * gapless: a send that cannot go through (not a participant, bad replyTo) never takes one.
 */
export class SendQueue {
  private waiting: Pending[] = [];
  private busy = false;

  constructor(private readonly ctx: Context) {}

  send(item: QueuedSend): Promise<SendResult> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ ...item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.busy || this.waiting.length === 0) return;
    this.busy = true;
    const batch = this.waiting.splice(0, MAX_BATCH);
    this.run(batch).finally(() => {
      this.busy = false;
      this.pump();
    });
  }

  private async run(batch: Pending[]): Promise<void> {
    try {
      const outcomes = await commitBatch(this.ctx, batch);
      batch.forEach((item, i) => {
        const outcome = outcomes[i]!;
        if (outcome instanceof Error) item.reject(outcome);
        else item.resolve(outcome);
      });
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      // One send broke the whole transaction (a retry racing on another instance, say): each
      // goes again alone, so only the one at fault fails.
      for (const item of batch) await this.run([item]);
    }
  }
}

const clientKey = (conversationId: string, senderId: string, clientMessageId: string) => `${conversationId} ${senderId} ${clientMessageId}`;

async function commitBatch(ctx: Context, batch: Pending[]): Promise<(SendResult | Error)[]> {
  try {
    return await withTransaction(ctx, (tx, after) => writeBatch(ctx, tx, batch, after));
  } catch (error) {
    // Two retries of one send raced across batches: the loser's batch runs again and now finds
    // the winner's row, which it returns as stored.
    if (isUniqueViolation(error, "messages_client_id_key")) return withTransaction(ctx, (tx, after) => writeBatch(ctx, tx, batch, after));
    throw error;
  }
}

async function writeBatch(ctx: Context, tx: Transaction, batch: Pending[], after: (effect: () => void) => void): Promise<(SendResult | Error)[]> {
  const conversationIds = [...new Set(batch.map((b) => b.conversationId))].sort();
  const senderIds = [...new Set(batch.map((b) => b.actor.userId))];

  const locked = await tx
    .select({ id: conversations.id, lastSeq: conversations.lastSeq, now: sql<string>`clock_timestamp()` })
    .from(conversations)
    .where(inArray(conversations.id, conversationIds))
    .orderBy(asc(conversations.id))
    .for("update");
  const members = await tx
    .select({ conversationId: participants.conversationId, userId: participants.userId })
    .from(participants)
    .where(and(inArray(participants.conversationId, conversationIds), inArray(participants.userId, senderIds)));
  const isMember = new Set(members.map((m) => `${m.conversationId} ${m.userId}`));

  const replyIds = [...new Set(batch.flatMap((b) => (b.input.replyTo ? [b.input.replyTo] : [])))];
  const replyTargets = replyIds.length
    ? new Map((await tx.select({ id: messages.id, conversationId: messages.conversationId }).from(messages).where(inArray(messages.id, replyIds))).map((r) => [r.id, r.conversationId]))
    : new Map<string, string>();

  const clientIds = [...new Set(batch.flatMap((b) => (b.input.clientMessageId ? [b.input.clientMessageId] : [])))];
  const stored = new Map<string, MessageRow>();
  if (clientIds.length) {
    const rows = await tx
      .select()
      .from(messages)
      .where(and(inArray(messages.conversationId, conversationIds), inArray(messages.clientMessageId, clientIds)));
    for (const row of rows) stored.set(clientKey(row.conversationId, row.senderId, row.clientMessageId!), row);
  }

  const counters = new Map(locked.map((c) => [c.id, { seq: c.lastSeq, at: new Date(c.now), lastId: "" }]));
  const outcomes: (SendResult | Error | { pendingKey: string })[] = [];
  const inserts: (typeof messages.$inferInsert)[] = [];
  const insertedAt = new Map<string, number>(); // client key → index in `inserts`
  for (const { actor, conversationId, input } of batch) {
    const counter = counters.get(conversationId);
    if (!counter || !isMember.has(`${conversationId} ${actor.userId}`)) {
      outcomes.push(notFound("Conversation"));
      continue;
    }
    if (input.replyTo && replyTargets.get(input.replyTo) !== conversationId) {
      outcomes.push(invalid("replyTo must be a message of this conversation", [{ path: "/replyTo", message: "unknown message" }]));
      continue;
    }
    const key = input.clientMessageId ? clientKey(conversationId, actor.userId, input.clientMessageId) : undefined;
    const existing = key && stored.get(key);
    if (existing) {
      outcomes.push({ row: existing, created: false });
      continue;
    }
    if (key && insertedAt.has(key)) {
      // The same retry twice in one batch: the second gets what the first stores.
      outcomes.push({ pendingKey: key });
      continue;
    }
    const id = Bun.randomUUIDv7();
    counter.seq += 1;
    counter.lastId = id;
    if (key) insertedAt.set(key, inserts.length);
    outcomes.push({ pendingKey: `#${inserts.length}` });
    inserts.push({
      id,
      conversationId,
      seq: counter.seq,
      senderId: actor.userId,
      content: input.content ?? "",
      attachments: input.attachments ?? [],
      replyTo: input.replyTo ?? null,
      clientMessageId: input.clientMessageId ?? null,
      metadata: input.metadata ?? {},
      createdAt: counter.at,
      updatedAt: counter.at,
    });
  }
  if (inserts.length === 0) return outcomes as (SendResult | Error)[];

  const returned = new Map((await tx.insert(messages).values(inserts).returning()).map((row) => [row.id, row]));
  // In arrival order, which within a conversation is seq order.
  const rows = inserts.map((i) => returned.get(i.id!)!);
  const changed = [...counters].filter(([, c]) => c.lastId);
  await tx.execute(sql`
    update ${conversations} as c
    set last_seq = v.seq, last_message_id = v.message_id::uuid, last_message_at = v.at::timestamptz, last_activity_at = v.at::timestamptz
    from (values ${sql.join(
      changed.map(([id, c]) => sql`(${id}::uuid, ${c.seq}::int, ${c.lastId}, ${c.at.toISOString()})`),
      sql`, `,
    )}) as v(id, seq, message_id, at)
    where c.id = v.id`);
  const created: Message[] = rows.map((row) => toMessage(row));
  await recordEvents(ctx, tx, created.map((data) => ({ type: "message.created" as const, data })));
  after(() => {
    for (const message of created) ctx.fanout.toConversation(message.conversationId, "message:new", message);
  });
  return outcomes.map((o) => {
    if (o instanceof Error || !("pendingKey" in o)) return o;
    const index = o.pendingKey.startsWith("#") ? Number(o.pendingKey.slice(1)) : insertedAt.get(o.pendingKey)!;
    return { row: rows[index]!, created: o.pendingKey.startsWith("#") };
  });
}
