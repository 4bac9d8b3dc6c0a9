import { and, eq, sql } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import { queryRows } from "../core/db/client";
import { type MessageRow, messages } from "../core/db/schema";
import { AppError, invalid, notFound } from "../core/errors";
import { requireMembership } from "../conversations/membership";
import { newEventId } from "../webhooks/outbox";
import type { Message, SendMessage } from "./model";
import { toMessage } from "./service";

export type QueuedSend = { actor: Actor; conversationId: string; input: SendMessage };
export type SendResult = { message: Message; created: true } | { row: MessageRow; created: false };

type Pending = QueuedSend & { resolve(result: SendResult): void; reject(error: unknown): void };

/** Sends written by one statement at most: bounds its size and the wait of the last one. */
const MAX_BATCH = 256;
/** Statements in flight per instance; each takes conversations no other one in flight has. */
const MAX_IN_FLIGHT = 4;
/**
 * Another statement starts only when the newest one has run this long. One at a time gives the
 * biggest batches and the lowest latency while the database keeps up (fewer, larger statements
 * cost it less CPU); a statement stuck on a lock (a big conversation being deleted, say) must not
 * hold up the sends of every other conversation.
 */
const STALL_MS = 20;
/** Sends waiting beyond this are refused at once rather than queued behind a stalled database. */
const MAX_WAITING = 20_000;

/**
 * Group commit for message sends. Sends that arrive while statements are in flight wait and are
 * written together by the next one, so a busy instance pays one commit for many messages while an
 * idle one writes each send at once. Normally one statement runs at a time; more start only when
 * the newest has stalled (STALL_MS). A conversation is in at most one statement at a time, which
 * keeps each socket's sends in the order it emitted them and spares statements of one instance
 * from waiting on each other's locks.
 */
export class SendQueue {
  private waiting: Pending[] = [];
  private inFlight = new Set<string>();
  private statements = 0;
  private lastStartedAt = 0;
  private stallTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly ctx: Context) {}

  send(item: QueuedSend): Promise<SendResult> {
    if (this.waiting.length >= MAX_WAITING) {
      return Promise.reject(new AppError("UNAVAILABLE", "Too many messages waiting to be stored; retry shortly"));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ ...item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.statements < MAX_IN_FLIGHT && this.waiting.length) {
      const sinceLast = performance.now() - this.lastStartedAt;
      if (this.statements > 0 && sinceLast < STALL_MS) {
        this.stallTimer ??= setTimeout(() => {
          this.stallTimer = undefined;
          this.pump();
        }, STALL_MS - sinceLast);
        return;
      }
      const batch = this.take();
      if (batch.length === 0) return;
      this.statements++;
      this.lastStartedAt = performance.now();
      const conversations = new Set(batch.map((b) => b.conversationId));
      for (const id of conversations) this.inFlight.add(id);
      this.ctx.drain?.track(
        this.run(batch).finally(() => {
          this.statements--;
          for (const id of conversations) this.inFlight.delete(id);
          this.pump();
        }),
      );
    }
  }

  /**
   * The oldest waiting sends whose conversations are not in flight, in arrival order. A retry of a
   * send already in the batch (same clientMessageId) waits for the next statement, which then
   * finds what the first stored, or judges it on its own if the first was refused.
   */
  private take(): Pending[] {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    const skipped = new Set<string>();
    const keys = new Set<string>();
    for (const item of this.waiting) {
      const key = item.input.clientMessageId && `${item.conversationId} ${item.actor.userId} ${item.input.clientMessageId}`;
      // Once one send of a conversation waits, later ones of it wait too: order is kept.
      const free = batch.length < MAX_BATCH && !this.inFlight.has(item.conversationId) && !skipped.has(item.conversationId);
      if (free && !(key && keys.has(key))) {
        batch.push(item);
        if (key) keys.add(key);
      } else {
        skipped.add(item.conversationId);
        rest.push(item);
      }
    }
    this.waiting = rest;
    return batch;
  }

  private async run(batch: Pending[]): Promise<void> {
    let outcomes: (SendResult | undefined)[];
    try {
      outcomes = await writeBatch(this.ctx, batch);
    } catch (error) {
      const retry = retryPlan(error, batch);
      if (retry) {
        for (const part of retry) await this.run(part);
        return;
      }
      for (const item of batch) item.reject(error);
      return;
    }
    const created = outcomes.filter((o): o is Extract<SendResult, { created: true }> => o?.created === true).map((o) => o.message);
    for (const message of created) {
      try {
        this.ctx.fanout.toConversation(message.conversationId, "message:new", message);
      } catch (error) {
        this.ctx.log.error("message fan-out failed", { error });
      }
    }
    await Promise.all(
      batch.map(async (item, i) => {
        try {
          item.resolve(outcomes[i] ?? (await explainRefusal(this.ctx, item)));
        } catch (error) {
          item.reject(error);
        }
      }),
    );
  }
}

const sqlState = (error: unknown): string | undefined => {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  }
  return undefined;
};

/**
 * How to retry a batch whose statement failed (it wrote nothing), so that only the sends at fault
 * fail: one at a time after an error one send's data can cause (SQLSTATE classes 22 data, 23
 * integrity, 40 rollback/deadlock); one conversation at a time after a lock or statement timeout
 * (one conversation held by another transaction must not fail the others). Anything else (the
 * database is gone, or the commit's answer was lost) fails every send: its client may retry with
 * its clientMessageId.
 */
function retryPlan(error: unknown, batch: Pending[]): Pending[][] | undefined {
  const state = sqlState(error);
  if (!state) return undefined;
  if (/^(22|23|40)/.test(state) && batch.length > 1) return batch.map((item) => [item]);
  if (state === "55P03" || state === "57014") {
    const byConversation = Map.groupBy(batch, (item) => item.conversationId);
    if (byConversation.size > 1) return [...byConversation.values()];
  }
  return undefined;
}

/**
 * One statement writes the batch: it keeps the sends whose sender is a participant (and whose
 * replyTo and clientMessageId allow it), locks their conversations in id order, bumps each
 * conversation's counter by its number of sends, numbers them in arrival order, inserts them and
 * their outbox events. It commits or fails as a whole, so seqs stay gapless. Returns each send's
 * outcome, or undefined for a send the statement left out.
 */
async function writeBatch(ctx: Context, batch: Pending[]): Promise<(SendResult | undefined)[]> {
  const webhooks = Boolean(ctx.config.WEBHOOK_URL);
  const rows: Record<string, unknown>[] = [];
  const templates: Message[] = [];
  batch.forEach(({ actor, conversationId, input }, i) => {
    const template = toMessage({
      id: Bun.randomUUIDv7(),
      conversationId,
      seq: 0,
      senderId: actor.userId,
      content: input.content ?? "",
      attachments: input.attachments ?? [],
      replyTo: input.replyTo ?? null,
      clientMessageId: input.clientMessageId ?? null,
      metadata: input.metadata ?? {},
      createdAt: new Date(0),
      updatedAt: new Date(0),
      editedAt: null,
      deletedAt: null,
    });
    templates[i] = template;
    rows.push({
      i,
      id: template.id,
      c: conversationId,
      s: actor.userId,
      t: template.content,
      a: template.attachments,
      r: template.replyTo,
      k: template.clientMessageId,
      m: template.metadata,
      e: webhooks ? newEventId() : null,
      tpl: webhooks ? template : null,
    });
  });

  const written = await queryRows<{ i: number; seq: number; at: string }>(
    ctx.db,
    sql`
    with input as (
      select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
        as t(i int, id uuid, c uuid, s text, t text, a jsonb, r uuid, k text, m jsonb, e text, tpl jsonb)
    ),
    ok as (
      select input.* from input
      where exists (select 1 from participants p where p.conversation_id = input.c and p.user_id = input.s)
        and (input.r is null or exists (select 1 from messages x where x.id = input.r and x.conversation_id = input.c))
        and (input.k is null or not exists (
          select 1 from messages x where x.conversation_id = input.c and x.sender_id = input.s and x.client_message_id = input.k))
    ),
    locked as (
      select v.id from conversations v where v.id in (select c from ok) order by v.id for update
    ),
    counts as (
      select ok.c, count(*)::int as n, (array_agg(ok.id order by ok.i desc))[1] as last_id
      from ok join locked on locked.id = ok.c group by ok.c
    ),
    bumped as (
      update conversations v
      set last_seq = v.last_seq + counts.n, last_message_id = counts.last_id,
          last_message_at = clock_timestamp(), last_activity_at = clock_timestamp()
      from counts where v.id = counts.c
      returning v.id, v.last_seq - counts.n as base, v.last_message_at as at
    ),
    numbered as (
      select ok.*, (b.base + row_number() over (partition by ok.c order by ok.i))::int as seq, b.at,
        to_char(b.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as iso
      from ok join bumped b on b.id = ok.c
    ),
    inserted as (
      insert into messages (id, conversation_id, seq, sender_id, content, attachments, reply_to, client_message_id, metadata, created_at, updated_at)
      select id, c, seq, s, t, a, r, k, m, at, at from numbered
      returning id
    ),
    outbox as (
      insert into webhook_events (id, type, payload)
      select e, 'message.created', jsonb_build_object('id', e, 'type', 'message.created', 'timestamp', iso,
        'data', jsonb_set(jsonb_set(jsonb_set(tpl, '{seq}', to_jsonb(seq)), '{createdAt}', to_jsonb(iso)), '{updatedAt}', to_jsonb(iso)))
      from numbered where e is not null
    )
    select i, seq, iso as at from numbered`,
  );

  const outcomes: (SendResult | undefined)[] = new Array(batch.length);
  for (const { i, seq, at } of written) {
    outcomes[i] = { created: true, message: { ...templates[i]!, seq: Number(seq), createdAt: at, updatedAt: at } };
  }
  if (written.length) ctx.metrics?.count("messages_sent_total", undefined, written.length);
  return outcomes;
}

/**
 * Why the statement left a send out, in the order a single send is judged: not a participant
 * (404), a retry of a stored message (200 with it), or a replyTo outside the conversation (400).
 */
async function explainRefusal(ctx: Context, { actor, conversationId, input }: QueuedSend): Promise<SendResult> {
  await requireMembership(ctx.db, conversationId, actor.userId);
  if (input.clientMessageId) {
    const [row] = await ctx.db
      .select()
      .from(messages)
      .where(and(eq(messages.conversationId, conversationId), eq(messages.senderId, actor.userId), eq(messages.clientMessageId, input.clientMessageId)));
    if (row) return { row, created: false };
  }
  if (input.replyTo) throw invalid("replyTo must be a message of this conversation", [{ path: "/replyTo", message: "unknown message" }]);
  // Nothing explains it: the conversation changed between the statement and now. Say so plainly.
  throw notFound("Conversation");
}
