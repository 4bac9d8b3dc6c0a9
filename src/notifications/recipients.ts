import { sql } from "drizzle-orm";
import { type Executor, queryRows } from "../core/db/client";

/** Someone a message may notify, as the database sees it; presence is asked afterwards. */
export type Candidate = { messageId: string; userId: string; mentioned: boolean };

/**
 * The people each message may notify, for many messages in one statement: participants other
 * than the sender who have not read up to it. A conversation with more than `maxRoomSize`
 * participants notifies only the people the message mentions, so that its work is bounded by the
 * mentions, not by the crowd. A deleted message (or one whose conversation is gone) has nobody.
 */
export async function candidatesOf(db: Executor, messageIds: string[], maxRoomSize: number): Promise<Candidate[]> {
  if (messageIds.length === 0) return [];
  const rows = await queryRows<{ message_id: string; user_id: string; mentioned: boolean }>(
    db,
    sql`
    with claimed as (
      select m.id, m.conversation_id, m.seq, m.sender_id, v.member_count > ${maxRoomSize}::int as crowded
      from messages m join conversations v on v.id = m.conversation_id
      where m.id in (select value::uuid from jsonb_array_elements_text(${JSON.stringify(messageIds)}::jsonb))
        and m.deleted_at is null
    ),
    -- Who a message is for before anyone's own state is looked at: everyone in a room small
    -- enough to hear about every message.
    addressed as (
      select c.id as message_id, p.user_id, false as mentioned
      from claimed c join participants p on p.conversation_id = c.conversation_id
      where not c.crowded
    )
    select a.message_id, a.user_id, bool_or(a.mentioned) as mentioned
    from addressed a
    join claimed c on c.id = a.message_id
    join participants p on p.conversation_id = c.conversation_id and p.user_id = a.user_id
    where p.user_id <> c.sender_id
      and p.last_read_seq < c.seq
    group by a.message_id, a.user_id
    order by a.message_id, a.user_id`,
  );
  return rows.map((r) => ({ messageId: r.message_id, userId: r.user_id, mentioned: Boolean(r.mentioned) }));
}
