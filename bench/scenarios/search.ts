/**
 * Message search: a page of 20 over a million stored messages (20,000 with --quick), through
 * GET /api/search/messages, against two same-run baselines: a primary-key lookup through the same
 * HTTP stack (GET /api/messages/:id), and the service's own search statement run with the planner
 * kept off every index (what the search would cost without messages_search_idx).
 *
 * The messages are bulk-inserted with generate_series in SQL, with the word index dropped and
 * built again afterwards (as the migration defines it): a million sends through the API would
 * take far longer than the search being measured. Words come from a 5,000-word vocabulary with a
 * skewed draw (the cube of a uniform one), so the first word is in about a third of all messages
 * and most are rare.
 */
import postgres from "postgres";
import { searchQuery, searchWords } from "../../src/messages/search";
import { drizzle } from "drizzle-orm/postgres-js";
import * as schema from "../../src/core/db/schema";
import type { Database } from "../../src/core/db/client";
import { startChatService } from "../lib/service";
import { latencySummary, progress, progressDone } from "../lib/stats";
import { figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";

const VOCABULARY = 5000;
const WORDS_PER_MESSAGE = 8;

/** Sequential requests (one at a time: this is latency, not throughput). */
async function timed(times: number, run: (i: number) => Promise<void>) {
  const latencies: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    await run(i);
    latencies.push(performance.now() - t);
  }
  return latencySummary(latencies);
}

export async function search({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const total = quick ? 20_000 : 1_000_000;
  const conversations = quick ? 100 : 1000;
  const searcherIn = quick ? 10 : 50;
  const requests = quick ? 40 : 300;
  const service = await startChatService();
  const sql = postgres(service.databaseUrl, { max: 2, onnotice: () => {} });
  try {
    const searcher = "searcher";
    const others = Array.from({ length: 10 }, (_, i) => `talker-${i}`);
    await service.syncUsers([searcher, ...others]);
    const token = await service.token(searcher);
    const ownerToken = await service.token(others[0]!);
    progress("search: conversations");
    const ids: string[] = [];
    for (let i = 0; i < conversations; i++) {
      const participantIds = i < searcherIn ? [searcher, others[1]!] : [others[1 + (i % 9)]!];
      const res = await service.api(ownerToken, "POST", "/api/conversations", { type: "group", participantIds, name: `c${i}` });
      if (res.status !== 201) throw new Error(`create conversation: ${res.status} ${JSON.stringify(res.body)}`);
      ids.push(res.body.id);
    }

    progress(`search: ${total.toLocaleString("en-US")} messages`);
    const [index] = await sql<{ def: string }[]>`select pg_get_indexdef('messages_search_idx'::regclass) as def`;
    await sql`drop index messages_search_idx`;
    const loadStarted = performance.now();
    // UUIDv7-shaped ids a millisecond apart, ending now; conversation i gets every n-th message.
    await sql`
      with vocabulary as (select array_agg(substr(md5(i::text), 1, 4 + i % 5) order by i) as words from generate_series(1, ${VOCABULARY}) i),
      conversation as (select array_agg(id order by ord) as ids from unnest(${ids}::uuid[]) with ordinality as c(id, ord)),
      start as (select (extract(epoch from clock_timestamp()) * 1000)::bigint - ${total} as ms)
      insert into messages (id, conversation_id, seq, sender_id, content)
      select
        (lpad(to_hex(start.ms + g), 12, '0') || '7' || lpad(to_hex(g % 4096), 3, '0') || '8' || lpad(to_hex(g % 4096), 3, '0') || lpad(to_hex(g), 12, '0'))::uuid,
        conversation.ids[1 + g % ${conversations}],
        1 + g / ${conversations},
        ${others[1]!},
        (select string_agg(vocabulary.words[1 + (((abs(hashint8(g * ${WORDS_PER_MESSAGE} + k)) % 1000000) / 1e6) ^ 3 * ${VOCABULARY - 1})::int], ' ')
           from generate_series(1, ${WORDS_PER_MESSAGE}) k)
      from generate_series(0, ${total - 1}) g, vocabulary, conversation, start`;
    await sql`update conversations c set last_seq = (select coalesce(max(seq), 0) from messages m where m.conversation_id = c.id)`;
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    progress("search: building the word index");
    const indexStarted = performance.now();
    await sql.unsafe(index!.def);
    await sql`analyze messages`;
    const indexSeconds = (performance.now() - indexStarted) / 1000;

    // Words by how many of the searcher's messages hold them: the commonest, and one in about
    // five pages' worth (so that a page of 20 is full and the word is still selective).
    const target = quick ? 40 : 100;
    const stats = await sql<{ word: string; ndoc: number }[]>`
      select word, ndoc from ts_stat(${`select to_tsvector('simple', chat_search_text(content)) from messages
        where conversation_id in (select conversation_id from participants where user_id = 'searcher')`})`;
    const byCount = stats.sort((a, b) => b.ndoc - a.ndoc);
    const common = byCount[0]!;
    const medium = byCount.reduce((best, s) => (Math.abs(s.ndoc - target) < Math.abs(best.ndoc - target) ? s : best));
    const [totals] = await sql<{ common: number; medium: number }[]>`
      select count(*) filter (where doc @@ to_tsquery('simple', ${`'${common.word}'`}))::int as common,
             count(*) filter (where doc @@ to_tsquery('simple', ${`'${medium.word}'`}))::int as medium
      from (select to_tsvector('simple', chat_search_text(content)) as doc from messages) m`;
    const queries = { medium: medium.word, common: common.word, "two words, the last a prefix": `${medium.word} ${common.word.slice(0, 3)}` };

    const get = async (path: string) => {
      const res = await fetch(`${service.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.json()) as { data?: { id: string }[] };
      if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
      return body;
    };
    const sample = await get(`/api/search/messages?q=${queries.medium}&limit=20`);
    const page = sample.data?.length ?? 0;
    const messageId = sample.data?.[0]?.id;
    if (!messageId) throw new Error("the search found nothing to measure");

    progress("search: HTTP, medium word");
    const medium20 = await timed(requests, async () => void (await get(`/api/search/messages?q=${queries.medium}&limit=20`)));
    progress("search: HTTP, common word");
    const common20 = await timed(requests, async () => void (await get(`/api/search/messages?q=${queries.common}&limit=20`)));
    progress("search: HTTP, two words");
    const twoWords = await timed(requests, async () => void (await get(`/api/search/messages?q=${encodeURIComponent(queries["two words, the last a prefix"])}&limit=20`)));
    progress("search: HTTP, primary-key lookup");
    const byId = await timed(requests, async () => void (await get(`/api/messages/${messageId}`)));

    // The same statement in SQL, with and without the indexes the planner may use for it.
    const db = drizzle(sql, { schema }) as unknown as Database;
    const statement = searchQuery(db, searcher, searchWords(queries.medium), { limit: 20 }).toSQL();
    const params = statement.params as never[];
    const run = (noIndex: boolean) =>
      sql.begin(async (tx) => {
        if (noIndex) await tx`set local enable_bitmapscan = off; set local enable_indexscan = off`.simple();
        // Unnamed, as drizzle sends it: planned with its words every time, never a generic plan.
        await tx.unsafe(statement.sql, params, { prepare: false });
      });
    progress("search: SQL with the index");
    const withIndex = await timed(quick ? 10 : 30, () => run(false));
    progress("search: SQL without an index");
    const withoutIndex = await timed(quick ? 3 : 5, () => run(true));
    const plan = (await sql.unsafe(`explain (analyze, costs off) ${statement.sql}`, params, { prepare: false })).map((row) => String(Object.values(row)[0]).replace(/^[\s>-]+/, ""));
    progressDone();

    const pk = (p: "p50" | "p99") => ({ value: byId[p], label: `GET /api/messages/:id ${p}, same server` });
    return {
      scenario: "search",
      params: { messages: total, conversations, searcherConversations: searcherIn, requests, vocabulary: VOCABULARY, wordsPerMessage: WORDS_PER_MESSAGE },
      figures: [
        figure("page of 20, medium word, p50", medium20.p50, "ms", pk("p50"), false),
        figure("page of 20, medium word, p99", medium20.p99, "ms", pk("p99"), false),
        figure("page of 20, common word, p50", common20.p50, "ms", pk("p50"), false),
        figure("page of 20, common word, p99", common20.p99, "ms", pk("p99"), false),
        figure("page of 20, two words (prefix), p99", twoWords.p99, "ms", pk("p99"), false),
        figure("search statement p50 (SQL)", withIndex.p50, "ms", { value: withoutIndex.p50, label: "same statement, indexes off (seq scan)" }, false),
      ],
      bottleneck: "the database: the word index's bitmap joined with the caller's conversations, then the heap rows of the matches; the HTTP path adds JWT verification and the Message view",
      notes: [
        `load: ${loadSeconds.toFixed(1)} s to insert ${total.toLocaleString("en-US")} messages, ${indexSeconds.toFixed(1)} s to build the word index`,
        `the searcher is in ${searcherIn} of ${conversations} conversations; medium word "${medium.word}": in ${medium.ndoc} of the searcher's messages, ${totals!.medium} of all; common word "${common.word}": ${common.ndoc} and ${totals!.common}; a page held ${page}`,
        `plan of the medium-word statement: ${plan.filter((line) => /^(Limit|Sort \(|Bitmap|Index Scan|Index Only|Seq Scan|Parallel|Gather|Planning Time|Execution)/.test(line)).join(" → ")}`,
      ],
    };
  } finally {
    await sql.end();
    await service.stop();
  }
}
