import type { Authenticator, Claims } from "../core/auth";
import type { Storage } from "../core/db/client";
import { notFound } from "../core/errors";
import type { PageCache } from "./page-cache";

/**
 * A page of a conversation in one statement: the caller's membership, the messages and their
 * reactions, each message built by PostgreSQL as the API shows it (the keys of toMessage, in its
 * order; times as toISOString writes them). Four round trips and drizzle's row mapping were most
 * of what a page cost; the page's JSON comes as text and is answered as it is (see `statement`).
 */

/** A timestamp(3) as toISOString writes it; null stays null. */
const iso = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Reaction summaries as reactionSummaries builds them: each emoji in the order it was first used,
 * its users in the order they reacted (ties by user, then emoji). A deleted message shows none. Most messages have none: one
 * probe of the primary key says so, cheaper than starting the aggregate for each.
 */
const REACTIONS = `case when m.deleted_at is not null or not exists (select from reactions r0 where r0.message_id = m.id) then '[]'::json else (
  select coalesce(json_agg(json_build_object('emoji', g.emoji, 'count', g.n, 'userIds', g.ids) order by g.first_at, g.first_user, g.emoji), '[]'::json)
  from (
    select r.emoji, count(*)::int as n, json_agg(r.user_id order by r.created_at, r.user_id) as ids,
      min(r.created_at) as first_at, (array_agg(r.user_id order by r.created_at, r.user_id))[1] as first_user
    from reactions r where r.message_id = m.id group by r.emoji
  ) g
) end`;

const MESSAGE_COLUMNS = `m.id, m.conversation_id as "conversationId", m.seq, m.sender_id as "senderId", m.content, m.attachments,
  m.reply_to as "replyTo", m.parent_id as "parentId", m.reply_count as "replyCount", ${iso("m.last_reply_at")} as "lastReplyAt",
  m.client_message_id as "clientMessageId", m.metadata,
  case when m.deleted_at is null then m.mentions else '{}'::text[] end as mentions,
  ${REACTIONS} as reactions,
  m.edited_at is not null as "isEdited", m.deleted_at is not null as "isDeleted",
  ${iso("m.created_at")} as "createdAt", ${iso("m.updated_at")} as "updatedAt", ${iso("m.edited_at")} as "editedAt",
  ${iso("m.deleted_at")} as "deletedAt", ${iso("m.pinned_at")} as "pinnedAt", m.pinned_by as "pinnedBy"`;

/**
 * What a newest page shows is made of its rows (the page and one more, and their reactions) and
 * of nothing else: each row version is named by where it lies and the transaction that wrote it
 * (`ctid`, `xmin`), and any change (a send, an edit, a deletion, a reaction, a pin, a reply's
 * counters, retention, erasure, or a change made by hand in SQL) writes a new version or removes
 * one. So two reads that find the same versions would build the same page, and the fingerprint
 * tells whether a page kept from an earlier read is still the one this read would build, without
 * a version that every writer must remember to bump. Read in the page statement's own snapshot.
 */
const FINGERPRINT = (topLevel: boolean) => `
  select case when $5::uuid is null then md5(coalesce(string_agg('m' || w.ctid::text || w.xmin::text || coalesce(w.r, ''), ',' order by w.seq), '')) end as fingerprint
  from (
    select m.ctid, m.xmin, m.seq,
      case when exists (select from reactions r0 where r0.message_id = m.id) then
        (select string_agg(';r' || r.ctid::text || r.xmin::text, '' order by r.ctid) from reactions r where r.message_id = m.id) end as r
    from messages m
    where $5::uuid is null and c.id is not null and m.conversation_id = $1::uuid${topLevel ? " and m.parent_id is null" : ""}
    order by m.seq desc
    limit $4::int
  ) w`;

/**
 * $1 conversation, $2 caller, $3 seq bound without a cursor, $4 rows (a page and one more),
 * $5 the cursor message (null: none), $6 whether that cursor may be a message retention removed
 * (made before the retention cutoff). The caller's user row comes along, as authentication reads
 * it (src/users/store.ts: synced and not deleted): no row, no such user. `kept` is null when the
 * caller is not a participant (or there is no such conversation), and then no page is built.
 * `bound` is the seq the page is below or above: the cursor's, or with a cursor retention removed
 * the newest seq it removed; null for a cursor that is no message of the conversation (the
 * caller is told only once membership is known). The scope's condition is written as its index's
 * predicate is (messages_top_level_idx), so that the planner walks that index.
 * The page comes as the API shows it: `data`, the JSON text of the messages shown (all but the
 * extra row, in ascending seq), `hasMore` (the extra row was there), and `nextCursor` (the last
 * shown in fetch order), so that the service passes the text on without parsing and writing it
 * again (a page of 50 is 20–30 KB of JSON).
 * $7 is the fingerprint of a newest page this instance keeps (null: none); `fingerprint` is the
 * newest page's (null for a page with a cursor). While they are equal, `unchanged`, the page is
 * not built: what the caller gets is the kept one.
 */
const statement = (topLevel: boolean, direction: "older" | "newer") => `select
  u.tokens_revoked_before::float8 as "revokedBefore", u.suspended,
  (extract(epoch from u.suspended_until) * 1000)::float8 as "suspendedUntilMs",
  c.expired_up_to_seq as "kept", cur.bound, cur.found as "cursorFound",
  case when c.id is null or cur.bound is null then null else pg.data end as "data", pg."hasMore", pg."nextCursor",
  fp.fingerprint, $7::text is not null and fp.fingerprint = $7::text as unchanged
from users u
left join participants pt on pt.conversation_id = $1::uuid and pt.user_id = u.external_id
left join conversations c on c.id = pt.conversation_id
left join lateral (
  select x.seq is not null as found,
    case when $5::uuid is null then $3::int
         else coalesce(x.seq, case when $6::boolean and c.expired_up_to_seq > 0 then c.expired_up_to_seq end) end as bound
  from (select) one
  left join messages x on x.id = $5::uuid and x.conversation_id = c.id
) cur on true
left join lateral (${FINGERPRINT(topLevel)}) fp on true
left join lateral (
  select coalesce(json_agg(f.p order by f.seq) filter (where f.rn < $4::int), '[]'::json)::text as data,
    count(*) >= $4::int as "hasMore",
    case when count(*) >= $4::int then (array_agg(f.id) filter (where f.rn = $4::int - 1))[1] end as "nextCursor"
  from (
    select p, p.seq, p.id, row_number() over (order by p.seq ${direction === "older" ? "desc" : "asc"}) as rn
    from (
      select ${MESSAGE_COLUMNS}
      from messages m
      where c.id is not null and ($7::text is null or fp.fingerprint is distinct from $7::text)
        and m.conversation_id = $1::uuid${topLevel ? " and m.parent_id is null" : ""}
        and m.seq ${direction === "older" ? "<" : ">"} cur.bound
      order by m.seq ${direction === "older" ? "desc" : "asc"}
      limit $4::int
    ) p
  ) f
) pg on true
where u.external_id = $2::text and u.deleted_at is null`;

export const PAGE_STATEMENTS = {
  topLevel: { older: statement(true, "older"), newer: statement(true, "newer") },
  all: { older: statement(false, "older"), newer: statement(false, "newer") },
};

export type PageRequest = {
  conversationId: string;
  /** The caller's verified token: its user is read by the page's statement. */
  claims: Claims;
  includeReplies: boolean;
  /** Newest first below the cursor (the newest messages without one), or oldest first above it. */
  direction: "older" | "newer";
  /** A message of the conversation; `mayHaveExpired`: made before the retention cutoff. */
  cursor?: { id: string; mayHaveExpired: boolean };
  limit: number;
};

type PageRow = {
  revokedBefore: number | null;
  suspended: boolean;
  suspendedUntilMs: number | null;
  kept: number | null;
  bound: number | null;
  cursorFound: boolean;
  data: string | null;
  hasMore: boolean;
  nextCursor: string | null;
  fingerprint: string | null;
  unchanged: boolean;
};

/** Without a cursor: below a seq no message can reach. */
const NO_BOUND = 2_147_483_647;

/**
 * The page in ascending seq, with `hasMore` and the cursor that pages on (the oldest message shown
 * going back, the newest going forward), as the JSON text of the API's answer (MessageListPage).
 * The caller is refused as authentication refuses (their user deleted, suspended, their token
 * revoked), then NOT_FOUND for a conversation they are not in, then NOT_FOUND for a cursor that is
 * no message of it. A cursor retention removed pages from what is kept, `truncated`: going back
 * there is nothing older any more.
 */
export async function conversationPage(storage: Storage, auth: Authenticator, pages: PageCache, page: PageRequest, mayAnswerKept = true): Promise<string> {
  const text = PAGE_STATEMENTS[page.includeReplies ? "all" : "topLevel"][page.direction];
  const { cursor } = page;
  // Only the newest page is kept: it is the one every member opens a conversation with.
  const key = cursor ? undefined : `${page.conversationId} ${page.includeReplies} ${page.limit}`;
  const kept = key && mayAnswerKept ? pages.fingerprintOf(key) : undefined;
  const [row] = await storage.queryPlanned<PageRow>(text, [
    page.conversationId,
    page.claims.sub,
    NO_BOUND,
    page.limit + 1,
    cursor?.id ?? null,
    cursor?.mayHaveExpired ?? false,
    kept ?? null,
  ]);
  auth.admit(
    page.claims,
    row && { revokedBefore: row.revokedBefore, suspended: row.suspended, suspendedUntil: row.suspendedUntilMs === null ? null : new Date(row.suspendedUntilMs) },
  );
  if (!row || row.kept === null) throw notFound("Conversation");
  if (row.bound === null || row.data === null) throw notFound("Message");
  if (key && row.unchanged) {
    const answer = pages.take(key, row.fingerprint!);
    if (answer !== undefined) return answer;
    // Dropped or replaced while the statement ran (other pages came in): build this one.
    return conversationPage(storage, auth, pages, page, false);
  }
  const expired = cursor !== undefined && !row.cursorFound;
  if (expired && page.direction === "older") return `{"data":[],"hasMore":false,"nextCursor":null,"truncated":true}`;
  // The keys of listOf, in its order, then `truncated`.
  const answer = `{"data":${row.data},"hasMore":${row.hasMore},"nextCursor":${JSON.stringify(row.nextCursor)}${expired ? ',"truncated":true' : ""}}`;
  if (key && row.fingerprint) pages.set(key, row.fingerprint, answer);
  return answer;
}
