/**
 * Growth: what sending, paging and unread counts cost as the stored history grows, at 0, 1 M and
 * BENCH_GROWTH_MAX (default 10 M) messages (0 and 20,000 with --quick), each row against the same
 * figure at 0 messages in the same run. The goal is flat: every statement on the hot path finds
 * its rows through an index, whatever the size of the table.
 *
 * The measured user (growth-reader) is in 20 conversations among thousands of others: one of
 * them is one of five big conversations that share 30 % of the history, the other 19 share the
 * rest round-robin with every other conversation. A peer sends to them; the reader pages, lists
 * and counts. The history is bulk-loaded in SQL (bench/lib/seed-messages.ts); at the largest size
 * the hot statements' plans are printed, and any sequential scan is called out.
 */
import { sql as dsql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import type { Database } from "../../src/core/db/client";
import * as schema from "../../src/core/db/schema";
import { conversationListQuery } from "../../src/conversations/service";
import { PAGE_STATEMENTS } from "../../src/messages/page";
import { SEND_STATEMENT, sendParams, sendRows } from "../../src/messages/store";
import { totalsQuery, unreadQuery } from "../../src/receipts/service";
import { bind, customPlan, genericPlan, planSummary, seqScans } from "../lib/plans";
import { type SeedPlan, type SeedTimes, seedMessages } from "../lib/seed-messages";
import { startChatService } from "../lib/service";
import { latencySummary, progress, progressDone, round } from "../lib/stats";
import { type Figure, figure, type ScenarioOptions, type ScenarioResult } from "../lib/types";

const READER = "growth-reader";
const PEER = "growth-peer";
// Enough users that each is in a few conversations, as on a real server (the planner estimates a user's rows from the average).
const BACKGROUND_USERS = 1000;

type Stage = {
  messages: number;
  sendP50: number;
  sendRate: number;
  pageNewestP50: number;
  pageDeepP50: number;
  conversationP50: number;
  listP50: number;
  meUnreadP50: number;
  unreadCount: number;
  seed?: SeedTimes;
};

const fmt = (n: number) => (n >= 1_000_000 ? `${round(n / 1_000_000, 1)} M` : n >= 1000 ? `${round(n / 1000, 1)} k` : String(n));

export async function growth({ quick }: ScenarioOptions): Promise<ScenarioResult> {
  const max = quick ? 20_000 : Number(process.env.BENCH_GROWTH_MAX ?? 10_000_000);
  const sizes = [...new Set([0, ...(quick ? [] : [1_000_000]), max])].filter((n) => n <= max).sort((a, b) => a - b);
  const background = quick ? 100 : 2000;
  const requests = quick ? 15 : 100;
  const service = await startChatService();
  const sql = postgres(service.databaseUrl, { max: 4, onnotice: () => {} });
  const notes: string[] = [];
  try {
    const bgUsers = Array.from({ length: BACKGROUND_USERS }, (_, i) => `bg-${i}`);
    await service.syncUsers([READER, PEER, ...bgUsers]);
    const readerToken = await service.token(READER);
    const peerToken = await service.token(PEER);
    progress("growth: conversations");
    const mine: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await service.api(peerToken, "POST", "/api/conversations", { type: "group", participantIds: [READER], name: `reader ${i}` });
      if (res.status !== 201) throw new Error(`create conversation: ${res.status} ${JSON.stringify(res.body)}`);
      mine.push(res.body.id);
    }
    // Everyone else's conversations, three members each, the first member their sender.
    const others = Array.from({ length: background + 4 }, (_, g) => ({ id: crypto.randomUUID(), members: [0, 1, 2].map((d) => bgUsers[(g + d) % BACKGROUND_USERS]!) }));
    await sql`
      insert into conversations (id, type, name, created_by, member_count)
      select id, 'group', 'background', creator, 3 from unnest(${others.map((o) => o.id)}::uuid[], ${others.map((o) => o.members[0]!)}::text[]) x(id, creator)`;
    await sql`
      insert into participants (conversation_id, user_id, role)
      select id, user_id, case when n = 1 then 'owner' else 'member' end
      from unnest(${others.flatMap((o) => o.members.map(() => o.id))}::uuid[], ${others.flatMap((o) => o.members)}::text[], ${others.flatMap((o) => [1, 2, 3])}::int[]) x(id, user_id, n)`;
    const big = mine[0]!;
    // The reader's 19 other conversations sit evenly among everyone else's.
    const spread: { id: string; sender: string }[] = others.slice(4).map((o) => ({ id: o.id, sender: o.members[0]! }));
    mine.slice(1).forEach((id, i) => spread.splice(Math.floor(((i + 1) * spread.length) / 20), 0, { id, sender: PEER }));
    const plan: SeedPlan = {
      spread,
      big: [{ id: big, sender: PEER }, ...others.slice(0, 4).map((o) => ({ id: o.id, sender: o.members[0]! }))],
      spreadShare: 0.7,
      mentioned: { userId: READER, conversationIds: mine },
    };
    // Every seeded message is older than the run: the service's own sends come after them.
    const epochMs = Date.now() - max - 3_600_000;

    const get = async (path: string) => {
      const res = await fetch(service.url + path, { headers: { authorization: `Bearer ${readerToken}` } });
      const body = (await res.json()) as any;
      if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
      return body;
    };
    const timed = async (n: number, run: (i: number) => Promise<unknown>) => {
      for (let i = 0; i < Math.min(10, n); i++) await run(i); // warm-up
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await run(i);
        ms.push(performance.now() - t);
      }
      return latencySummary(ms).p50;
    };
    let sent = 0;
    const send = async () => {
      const i = sent++;
      const res = await fetch(`${service.url}/api/conversations/${mine[i % mine.length]}/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${peerToken}`, "content-type": "application/json" },
        body: JSON.stringify({ content: `growth send ${i} lunch meeting`, clientMessageId: `g-${i}` }),
      });
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(`send: ${res.status}`);
    };

    // Pages are full (50) at every size, the first one included: the big conversation starts with
    // 150 messages sent through the API, so the baseline pays for the same page as the others.
    await Promise.all(
      Array.from({ length: 10 }, async (_, w) => {
        for (let i = 0; i < 15; i++) {
          const res = await service.api(peerToken, "POST", `/api/conversations/${big}/messages`, { content: `growth first ${w}-${i} lunch meeting` });
          if (res.status !== 201) throw new Error(`send: ${res.status}`);
        }
      }),
    );

    const stages: Stage[] = [];
    let loaded = 0;
    for (const size of sizes) {
      let seed: SeedTimes | undefined;
      if (size > loaded) {
        progress(`growth: loading ${fmt(size - loaded)} messages (to ${fmt(size)})`);
        seed = await seedMessages(sql, plan, size - loaded, loaded, epochMs);
        notes.push(`seeding ${fmt(loaded)} → ${fmt(size)}: ${round(seed.insertSeconds)} s insert, ${round(seed.indexSeconds)} s rebuilding the secondary indexes (${Object.entries(seed.eachIndex).map(([name, s]) => `${name} ${s} s`).join(", ")}), ${round(seed.vacuumSeconds)} s vacuum analyze`);
        loaded = size;
      }
      progress(`growth: measuring at ${fmt(size)} messages`);
      const scannedBefore = await rowsScanned(sql);
      const sendP50 = await timed(requests, send);
      const rateSeconds = quick ? 1 : 3;
      const rateStarted = performance.now();
      let rateCount = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (performance.now() - rateStarted < rateSeconds * 1000) {
            await send();
            rateCount++;
          }
        }),
      );
      const sendRate = rateCount / ((performance.now() - rateStarted) / 1000);
      const [{ last_seq } = { last_seq: 0 }] = await sql<{ last_seq: number }[]>`select last_seq from conversations where id = ${big}`;
      const [deep] = await sql<{ id: string }[]>`
        select id from messages where conversation_id = ${big} and parent_id is null and seq <= ${Math.max(1, Math.floor(last_seq / 2))} order by seq desc limit 1`;
      const pageSize = (await get(`/api/conversations/${big}/messages?limit=50&before=${deep!.id}`)).data.length;
      if (pageSize !== 50) throw new Error(`a deep page held ${pageSize} messages`);
      const pageNewestP50 = await timed(requests, () => get(`/api/conversations/${big}/messages?limit=50`));
      const pageDeepP50 = await timed(requests, () => get(`/api/conversations/${big}/messages?limit=50&before=${deep!.id}`));
      const conversationP50 = await timed(requests, () => get(`/api/conversations/${big}`));
      const listP50 = await timed(requests, () => get(`/api/conversations?limit=20`));
      const meUnreadP50 = await timed(requests, () => get(`/api/me/unread`));
      // The count the service answers, checked against the history itself.
      const { unreadCount } = await get(`/api/conversations/${big}`);
      const [counted] = await sql<{ n: number }[]>`
        select count(*)::int as n from messages m join participants p on p.conversation_id = m.conversation_id and p.user_id = ${READER}
        where m.conversation_id = ${big} and m.seq > coalesce(p.own_read_seq, p.last_read_seq) and m.sender_id <> ${READER} and m.deleted_at is null`;
      // Rows read by sequential scans while measuring, per table: any that grows with the history is a scan on a hot path.
      await Bun.sleep(1500); // the statistics of a backend are flushed within a second
      const scanned = await rowsScanned(sql, scannedBefore);
      notes.push(`rows read by sequential scans while measuring at ${fmt(size)}: ${Object.entries(scanned).map(([t, n]) => `${t} ${n.toLocaleString("en-US")}`).join(", ") || "none"}`);
      if (counted!.n !== unreadCount) throw new Error(`unread count ${unreadCount} at ${fmt(size)}, the history holds ${counted!.n}`);
      stages.push({ messages: size, sendP50, sendRate, pageNewestP50, pageDeepP50, conversationP50, listP50, meUnreadP50, unreadCount, seed });
    }

    progress("growth: plans at the largest size");
    const [{ bytes } = { bytes: 0 }] = await sql<{ bytes: string }[]>`select pg_size_pretty(pg_total_relation_size('messages')) as bytes`;
    notes.push(`at ${fmt(max)}: messages table with its indexes ${bytes}; ${sent.toLocaleString("en-US")} messages sent through the API over the run`);
    const db = drizzle(sql, { schema }) as unknown as Database;
    const [deepRow] = await sql<{ id: string; seq: number }[]>`select id, seq from messages where conversation_id = ${big} and parent_id is null order by seq limit 1 offset 1000`;
    const plans: Record<string, string[]> = {
      "page, newest (the page statement, src/messages/page.ts)": await genericPlan(sql, { sql: PAGE_STATEMENTS.topLevel.older, params: [big, READER, 2_147_483_647, 51, null, false, null] }),
      "page, deep (the page statement)": await genericPlan(sql, { sql: PAGE_STATEMENTS.topLevel.older, params: [big, READER, 2_147_483_647, 51, deepRow?.id ?? null, false, null] }),
      "unread counts (unread_counts)": await genericPlan(sql, bind(unreadQuery(db, dsql.placeholder("userId"), dsql.placeholder("conversationIds")).toSQL(), { userId: READER, conversationIds: mine })),
      "GET /api/me/unread (unread_totals)": await genericPlan(sql, bind(totalsQuery(db, dsql.placeholder("userId")).toSQL(), { userId: READER })),
      "conversation list, first page": await customPlan(sql, conversationListQuery(db, READER, 20).toSQL()),
      "send statement": await customPlan(sql, { sql: SEND_STATEMENT, params: sendParams(sendRows([{ actor: { userId: PEER, tokenExpiresAt: null, issuedAt: null }, conversationId: big, input: { content: "plan" } }])) }),
    };
    progressDone();
    const scans: string[] = [];
    for (const [name, lines] of Object.entries(plans)) {
      notes.push(`plan at ${fmt(max)}, ${name}: ${planSummary(lines).join(" → ")}`);
      for (const scan of seqScans(lines)) scans.push(`${name}: ${scan}`);
    }
    notes.push(scans.length ? `sequential scans at ${fmt(max)}: ${scans.join("; ")}` : `no sequential scan in these plans at ${fmt(max)}`);

    const zero = stages[0]!;
    const at0 = (value: number) => ({ value: round(value, 2), label: "at 0 messages, same run" });
    const figures: Figure[] = [];
    for (const stage of stages.slice(1)) {
      const n = fmt(stage.messages);
      figures.push(
        figure(`send p50 (REST, one at a time) at ${n} messages`, round(stage.sendP50, 2), "ms", at0(zero.sendP50), false),
        figure(`send rate (REST, 16 in flight) at ${n} messages`, round(stage.sendRate), "msg/s", at0(zero.sendRate)),
        figure(`page of 50, newest, p50 at ${n} messages`, round(stage.pageNewestP50, 2), "ms", at0(zero.pageNewestP50), false),
        figure(`page of 50, deep (before= mid-history), p50 at ${n} messages`, round(stage.pageDeepP50, 2), "ms", at0(zero.pageDeepP50), false),
        figure(`GET conversation (unread count) p50 at ${n} messages`, round(stage.conversationP50, 2), "ms", at0(zero.conversationP50), false),
        figure(`GET /api/conversations (20, unread counts) p50 at ${n} messages`, round(stage.listP50, 2), "ms", at0(zero.listP50), false),
        figure(`GET /api/me/unread p50 at ${n} messages`, round(stage.meUnreadP50, 2), "ms", at0(zero.meUnreadP50), false),
      );
    }
    return {
      scenario: "growth",
      params: { sizes: sizes.map(fmt).join(" / "), conversations: background + 24, readerConversations: 20, requestsPerFigure: requests },
      figures,
      bottleneck: "goal: flat (ratio ≥ 0.8) from 0 messages: every statement on these paths reads an index range whose size does not depend on the history",
      notes: [...notes, `unread count of the big conversation (checked against the history): ${stages.map((s) => `${s.unreadCount} at ${fmt(s.messages)}`).join(", ")}`],
    };
  } finally {
    await sql.end();
    await service.stop();
  }
}

/** Rows each table has had read by sequential scans (since `before`, when given), tables with none left out. */
async function rowsScanned(sql: postgres.Sql, before: Record<string, number> = {}): Promise<Record<string, number>> {
  const rows = await sql<{ relname: string; n: string }[]>`select relname, seq_tup_read as n from pg_stat_user_tables`;
  return Object.fromEntries(rows.map((r) => [r.relname, Number(r.n) - (before[r.relname] ?? 0)]).filter(([, n]) => (n as number) > 0));
}
