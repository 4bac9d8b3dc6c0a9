/**
 * Bulk history for benches that measure how the service behaves as messages pile up: millions of
 * rows in SQL (generate_series), as the service would have written them, in a fraction of the time
 * sends through the API would take.
 *
 * What stays true, as after real sends: seqs gapless per conversation, each conversation's
 * last_seq / last_message_id / last_message_at / last_activity_at those of its newest message,
 * tombstones (one message in a thousand) empty with no mentions, a `mentions` row for every
 * mention of someone other than the sender, and each participant's sent_since_read the count of
 * their own messages above their marker (seeded senders are marked as having read everything).
 * Message ids are UUIDv7 in seq order, a millisecond apart, all before the load started.
 *
 * The load keeps the primary key and the (conversation, seq) key (which it needs to find each
 * conversation's newest message) and drops every other index of messages, the word index among
 * them, building them again from the migrations' definitions afterwards; foreign keys are not
 * checked row by row (session_replication_role = replica: the rows are consistent by
 * construction).
 */
import type postgres from "postgres";

/** Where seeded messages go: conversations sharing the bulk round-robin, and a few big ones sharing the rest. */
export type SeedPlan = {
  /** Conversations that share `spreadShare` of each load round-robin, with the sender of their messages. */
  spread: { id: string; sender: string }[];
  /** Conversations that share the rest. */
  big: { id: string; sender: string }[];
  spreadShare: number;
  /** This user is mentioned in every 50th message of the conversations they are in. */
  mentioned: { userId: string; conversationIds: string[] };
};

const KEPT = new Set(["messages_pkey", "messages_conversation_seq_key"]);
const WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu lunch meeting budget release deploy review coffee weekend report launch design draft invoice travel ticket offer client server update merge".split(" ");

export type SeedTimes = { insertSeconds: number; indexSeconds: number; vacuumSeconds: number; eachIndex: Record<string, number> };

/**
 * Adds `count` messages. `firstK` numbers the run's messages (ids and times follow it), `epochMs`
 * is the time of message 0: every seeded time must stay before the service's own sends.
 */
export async function seedMessages(sql: postgres.Sql, plan: SeedPlan, count: number, firstK: number, epochMs: number): Promise<SeedTimes> {
  const db = await sql.reserve();
  try {
    await db`set maintenance_work_mem = '1GB'`;
    await db`set work_mem = '256MB'`;
    const dropped = await db<{ name: string; def: string; constraint: boolean }[]>`
      select i.indexname as name, coalesce('alter table messages add constraint ' || quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid), i.indexdef) as def, c.conname is not null as constraint
      from pg_indexes i left join pg_constraint c on c.conname = i.indexname and c.conrelid = 'messages'::regclass
      where i.tablename = 'messages' and i.schemaname = current_schema()`;
    const rebuild = dropped.filter((d) => !KEPT.has(d.name));
    const insertStarted = performance.now();
    for (const d of rebuild) await db.unsafe(d.constraint ? `alter table messages drop constraint ${d.name}` : `drop index ${d.name}`);
    await db`set session_replication_role = replica`;
    const spread = Math.floor(count * plan.spreadShare);
    await insertRoundRobin(db, plan.spread, spread, firstK, epochMs, plan.mentioned.userId);
    await insertRoundRobin(db, plan.big, count - spread, firstK + spread, epochMs, plan.mentioned.userId);
    await db`set session_replication_role = origin`;
    const insertSeconds = (performance.now() - insertStarted) / 1000;

    const indexStarted = performance.now();
    const eachIndex: Record<string, number> = {};
    for (const d of rebuild) {
      const started = performance.now();
      await db.unsafe(d.def);
      eachIndex[d.name] = Math.round((performance.now() - started) / 100) / 10;
    }
    const indexSeconds = (performance.now() - indexStarted) / 1000;
    await settleParticipants(db, plan);
    const vacuumStarted = performance.now();
    await db`vacuum (analyze) messages`;
    // The counters just rewritten leave dead rows that autovacuum would clear on a live server.
    await db`vacuum (analyze) conversations`;
    await db`vacuum (analyze) participants`;
    await db`vacuum (analyze) mentions`;
    return { insertSeconds, indexSeconds, vacuumSeconds: (performance.now() - vacuumStarted) / 1000, eachIndex };
  } finally {
    db.release();
  }
}

/**
 * `count` messages over `targets` in turn: message g goes to target g % n as its next seq. Then
 * each target's counters move to its newest message, and mentions get their index rows.
 */
async function insertRoundRobin(db: postgres.ReservedSql, targets: { id: string; sender: string }[], count: number, firstK: number, epochMs: number, mentionedId: string) {
  if (count <= 0 || targets.length === 0) return;
  const n = targets.length;
  const ids = targets.map((t) => t.id);
  const [{ bases } = { bases: [] as number[] }] = await db<{ bases: number[] }[]>`
    select array_agg(c.last_seq order by u.ord) as bases from unnest(${ids}::uuid[]) with ordinality u(id, ord) join conversations c on c.id = u.id`;
  const mentionedIn = await db<{ id: string }[]>`select conversation_id as id from participants where user_id = ${mentionedId} and conversation_id = any(${ids}::uuid[])`;
  const hasMentioned = new Set(mentionedIn.map((r) => r.id));
  await db`
    with t as (select ${ids}::uuid[] as ids, ${targets.map((t) => t.sender)}::text[] as senders, ${bases}::int[] as bases,
                      ${`{${ids.map((id) => (hasMentioned.has(id) ? "t" : "f")).join(",")}}`}::boolean[] as mention, ${WORDS}::text[] as words),
    g as (select g, ${firstK}::bigint + g as k, 1 + g % ${n} as c, g / ${n} as round from generate_series(0, ${count - 1}) g),
    r as (select g.k, t.ids[g.c] as conversation_id, t.bases[g.c] + 1 + g.round as seq, t.senders[g.c] as sender_id, t.mention[g.c] as mention,
                 to_timestamp((${epochMs}::bigint + g.k) / 1000.0) as at, g.k % 1000 = 999 as deleted, t.words
          from g, t)
    insert into messages (id, conversation_id, seq, sender_id, content, mentions, created_at, updated_at, deleted_at)
    select
      (lpad(to_hex(${epochMs}::bigint + r.k), 12, '0') || '7' || lpad(to_hex(r.k % 4096), 3, '0') || '8' || lpad(to_hex((r.k / 4096) % 4096), 3, '0') || lpad(to_hex(r.k), 12, '0'))::uuid,
      r.conversation_id, r.seq, r.sender_id,
      case when r.deleted then '' else concat_ws(' ', r.words[1 + r.k % 47], r.words[1 + (r.k / 47) % 43], r.words[1 + (r.k / 2021) % 41], 'no.', r.k) end,
      case when r.mention and r.seq % 50 = 0 and not r.deleted then array[${mentionedId}::text] else '{}'::text[] end,
      r.at, r.at, case when r.deleted then r.at + interval '1 second' end
    from r`;
  // Target i (0-based) got the messages g = i, i + n, …: ceil((count - i) / n) of them.
  const added = ids.map((_, i) => (count > i ? Math.floor((count - 1 - i) / n) + 1 : 0));
  await db`
    update conversations c
    set last_seq = x.last, last_message_id = m.id, last_message_at = m.created_at, last_activity_at = greatest(c.last_activity_at, m.created_at)
    from unnest(${ids}::uuid[], ${bases.map((b, i) => b + added[i]!)}::int[]) x(id, last)
    join messages m on m.conversation_id = x.id and m.seq = x.last
    where c.id = x.id and x.last > c.last_seq`;
  await db`
    insert into mentions (user_id, conversation_id, seq, message_id)
    select ${mentionedId}, m.conversation_id, m.seq, m.id
    from unnest(${ids}::uuid[], ${bases}::int[]) x(id, base)
    join messages m on m.conversation_id = x.id and m.seq > x.base
    where x.id = any(${[...hasMentioned]}::uuid[]) and m.mentions = array[${mentionedId}::text]
    on conflict do nothing`;
}

/**
 * Seeded senders have read everything (so their sent_since_read, their own messages above their
 * marker, is 0); the mentioned user, who sends nothing here, is 500 messages behind in each
 * conversation.
 */
async function settleParticipants(db: postgres.ReservedSql, plan: SeedPlan) {
  const reader = plan.mentioned.userId;
  await db`
    update participants p set last_read_seq = c.last_seq, own_read_seq = null, sent_since_read = 0
    from conversations c where c.id = p.conversation_id and p.user_id <> ${reader} and p.last_read_seq < c.last_seq`;
  await db`
    update participants p set last_read_seq = greatest(p.last_read_seq, c.last_seq - 500), own_read_seq = null
    from conversations c where c.id = p.conversation_id and p.user_id = ${reader}`;
}
