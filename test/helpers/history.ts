/**
 * Long histories written straight into the service's database (one generate_series statement), as
 * the send statement would leave them: seqs after the conversation's last, the sender's own
 * messages above their read marker counted, mention rows for the unread index. Ids are UUIDv7 of
 * the time each message is dated, 1 ms apart, so retention and paging see them as real messages.
 */
import { sql } from "drizzle-orm";
import { queryRows } from "../../src/core/db/client";
import type { TestService } from "./service";

export type History = { firstSeq: number; lastSeq: number; firstId: string; lastId: string };

/** Anything with the service's app: a TestService, or an instance started by hand. */
type HasApp = Pick<TestService, "app">;

export async function insertHistory(
  svc: HasApp,
  conversationId: string,
  senderId: string,
  count: number,
  opts: { at?: number; content?: string; mentions?: string[] } = {},
): Promise<History> {
  const t0 = Math.floor(opts.at ?? Date.now() - 60_000);
  const content = opts.content ?? "old message";
  const mentions = opts.mentions ?? [];
  // One statement however long the history: the pool's statement timeout does not apply to it.
  const [row] = await svc.app.ctx.db.transaction(async (tx) => {
    await tx.execute(sql`set local statement_timeout = 0`);
    return queryRows<{ first_seq: number; last_seq: number; first_id: string; last_id: string }>(
    tx,
    sql`
    with conv as (
      update conversations set last_seq = last_seq + ${count}::int where id = ${conversationId}::uuid returning last_seq - ${count}::int as base
    ),
    ins as (
      insert into messages (id, conversation_id, seq, sender_id, content, mentions, created_at, updated_at)
      select (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 1, 3) || '-8' || substr(r, 4, 3) || '-' || substr(r, 7, 12))::uuid,
        ${conversationId}::uuid, conv.base + i, ${senderId}, ${content} || ' ' || i,
        array(select jsonb_array_elements_text(${JSON.stringify(mentions)}::jsonb)),
        to_timestamp((${t0}::bigint + i) / 1000.0), to_timestamp((${t0}::bigint + i) / 1000.0)
      from conv, generate_series(1, ${count}::int) as i,
        lateral (select lpad(to_hex(${t0}::bigint + i), 12, '0') as h, md5(${conversationId} || ':' || i || ':' || ${t0}::bigint) as r) as parts
      returning id, conversation_id, seq, sender_id, mentions
    ),
    mentioned as (
      insert into mentions (user_id, conversation_id, seq, message_id)
      select u, ins.conversation_id, ins.seq, ins.id from ins cross join unnest(ins.mentions) as u where u <> ins.sender_id
    ),
    sent as (
      update participants set sent_since_read = sent_since_read + ${count}::int
      where conversation_id = ${conversationId}::uuid and user_id = ${senderId}
    )
    select min(seq)::int as first_seq, max(seq)::int as last_seq, min(id::text) as first_id, max(id::text) as last_id from ins`,
    );
  });
  await svc.app.ctx.db.execute(
    sql`update conversations set last_message_id = ${row!.last_id}::uuid, last_message_at = to_timestamp((${t0}::bigint + ${count}::int) / 1000.0)
      where id = ${conversationId}::uuid and last_seq = ${row!.last_seq}`,
  );
  return { firstSeq: row!.first_seq, lastSeq: row!.last_seq, firstId: row!.first_id, lastId: row!.last_id };
}

/** Rows of a query on the service's database. */
export const rowsOf = <T = Record<string, unknown>>(svc: HasApp, query: ReturnType<typeof sql>) => queryRows<T>(svc.app.ctx.db, query);
