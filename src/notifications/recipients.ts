import { sql } from "drizzle-orm";
import { type Executor, queryRows } from "../core/db/client";

/** Someone a message may notify, as the database sees it; presence is asked afterwards. */
export type Candidate = { messageId: string; userId: string; mentioned: boolean };

/**
 * The people each message may notify, for many messages in one statement. A message is addressed
 * to everyone in its conversation; a thread reply only to the thread's participants (the parent's
 * author and earlier repliers); in a conversation with more than `maxRoomSize` participants to
 * nobody, so that its work is bounded by its mentions and not by the crowd. Those it mentions are
 * addressed in every case. Of those, a participant is a candidate unless they sent it, have read
 * up to it (their own marker, which a mark-unread moves back), have muted the conversation,
 * block the sender or are suspended. A deleted message (or one whose conversation is gone) has nobody.
 */
export async function candidatesOf(db: Executor, messageIds: string[], maxRoomSize: number): Promise<Candidate[]> {
  if (messageIds.length === 0) return [];
  const rows = await queryRows<{ message_id: string; user_id: string; mentioned: boolean }>(
    db,
    sql`
    with claimed as (
      select m.id, m.conversation_id, m.seq, m.sender_id, m.parent_id, v.member_count > ${maxRoomSize}::int as crowded
      from messages m join conversations v on v.id = m.conversation_id
      -- = any(array(…)): an index condition on the key, whatever the planner thinks of the list.
      where m.id = any(array(select value::uuid from jsonb_array_elements_text(${JSON.stringify(messageIds)}::jsonb)))
        and m.deleted_at is null
    ),
    addressed as (
      select c.id as message_id, p.user_id, false as mentioned
      from claimed c join participants p on p.conversation_id = c.conversation_id
      where not c.crowded and c.parent_id is null
      union all
      -- A reply: the thread's own message's author …
      select c.id, t.sender_id, false
      from claimed c join messages t on t.id = c.parent_id
      where not c.crowded
      union all
      -- … and whoever replied before it (the thread index: replies by parent and seq).
      select c.id, r.sender_id, false
      from claimed c join messages r on r.parent_id = c.parent_id and r.seq < c.seq
      where not c.crowded
      union all
      select c.id, x.user_id, true
      from claimed c join mentions x on x.message_id = c.id
    )
    select a.message_id, a.user_id, bool_or(a.mentioned) as mentioned
    from addressed a
    join claimed c on c.id = a.message_id
    join participants p on p.conversation_id = c.conversation_id and p.user_id = a.user_id
    where p.user_id <> c.sender_id
      and coalesce(p.own_read_seq, p.last_read_seq) < c.seq
      and not (p.muted and (p.muted_until is null or p.muted_until > now()))
      and not exists (select 1 from user_blocks b where b.blocker_id = p.user_id and b.blocked_id = c.sender_id)
      -- A suspended user could not open the app the push leads to.
      and not exists (select 1 from users u where u.external_id = p.user_id and u.suspended and (u.suspended_until is null or u.suspended_until > now()))
    group by a.message_id, a.user_id
    order by a.message_id, a.user_id`,
  );
  return rows.map((r) => ({ messageId: r.message_id, userId: r.user_id, mentioned: Boolean(r.mentioned) }));
}
