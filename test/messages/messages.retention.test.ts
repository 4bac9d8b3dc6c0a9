import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { insertHistory, rowsOf } from "../helpers/history";
import { call, connectAs, group, makeUsers, ok } from "../helpers/realtime";
import { RAW_SECRET, serviceWithReceiver } from "../webhooks/receiver";

/**
 * MESSAGE_RETENTION_DAYS: older messages are deleted for good in batches, counters stay exact,
 * seqs are never reused, and a client syncing from a purged point is told it has a hole.
 * The worker's timer is an hour here: each test runs the passes itself.
 */
const { svc } = serviceWithReceiver(RAW_SECRET, { MESSAGE_RETENTION_DAYS: "30", LIFECYCLE_INTERVAL_MS: "3600000", LIFECYCLE_BATCH_SIZE: "100" });

const DAY = 86_400_000;
const purge = () => svc.app.lifecycle.runDue();

async function idOfSeq(conversationId: string, seq: number): Promise<string> {
  const [row] = await rowsOf<{ id: string }>(svc, sql`select id::text from messages where conversation_id = ${conversationId}::uuid and seq = ${seq}`);
  return row!.id;
}

const expiredEvents = async (conversationId: string) =>
  (await rowsOf<{ data: { conversationId: string; upToSeq: number } }>(svc, sql`select payload -> 'data' as data from webhook_events where type = 'messages.expired' order by id`))
    .map((r) => r.data)
    .filter((d) => d.conversationId === conversationId);

/** Old history (200 messages, 40 and 39 days old), then a few fresh ones over the API. */
async function scene() {
  const [ann, bob, cat] = (await makeUsers(svc, "ann", "bob", "cat")) as [string, string, string];
  const conversationId = await group(svc, ann, [bob, cat]);
  await insertHistory(svc, conversationId, ann, 150, { at: Date.now() - 40 * DAY, mentions: [cat] });
  await insertHistory(svc, conversationId, bob, 50, { at: Date.now() - 39 * DAY });
  const [a, b, c] = [await svc.as(ann), await svc.as(bob), await svc.as(cat)];
  // On old messages: a reaction, a read mark (Bob reads up to seq 120).
  expect((await c.post(`/api/messages/${await idOfSeq(conversationId, 5)}/reactions`, { emoji: "👍" })).status).toBe(201);
  expect((await b.put(`/api/messages/${await idOfSeq(conversationId, 120)}/read`)).status).toBe(200);
  expect((await a.post(`/api/messages/${await idOfSeq(conversationId, 7)}/pin`)).status).toBe(200);
  const send = async (who: typeof a, content: string, extra = {}) => (await who.post(`/api/conversations/${conversationId}/messages`, { content, ...extra })).body;
  const fresh = [await send(a, "new 1"), await send(a, "new 2"), await send(c, "new 3"), await send(b, "new 4", { mentions: [cat] }), await send(a, "new 5")];
  expect((await a.delete(`/api/messages/${fresh[1].id}`)).status).toBe(204);
  return { ann, bob, cat, a, b, c, conversationId, fresh };
}

describe("retention", () => {
  test("messages past the policy go for good with their reactions, read marks and mentions; unread counts stay exact", async () => {
    const { a, b, c, conversationId, fresh } = await scene();
    const unreadBefore = (await c.get(`/api/conversations/${conversationId}/unread-count`)).body;
    // Cat: 150 of Ann's (each mentioning Cat) and 50 of Bob's, then new 1, new 4, new 5 (new 2 is deleted, new 3 is Cat's).
    expect(unreadBefore).toEqual({ conversationId, unreadCount: 203, unreadMentionCount: 151, lastReadSeq: 0 });

    await purge();

    const page = (await b.get(`/api/conversations/${conversationId}/messages?limit=100`)).body;
    expect(page.data.map((m: any) => m.seq)).toEqual([201, 202, 203, 204, 205]);
    expect(page.truncated).toBeUndefined();
    const [left] = await rowsOf<{ messages: number; reactions: number; marks: number; mentions: number }>(
      svc,
      sql`select (select count(*) from messages where conversation_id = ${conversationId}::uuid)::int as messages,
        (select count(*) from reactions r join messages m on m.id = r.message_id where m.conversation_id = ${conversationId}::uuid)::int as reactions,
        (select count(*) from read_marks where conversation_id = ${conversationId}::uuid and seq <= 200)::int as marks,
        (select count(*) from mentions where conversation_id = ${conversationId}::uuid)::int as mentions`,
    );
    expect(left).toEqual({ messages: 5, reactions: 0, marks: 0, mentions: 1 });
    expect((await b.get(`/api/conversations/${conversationId}/pins`)).body.data).toEqual([]);

    // Each reader's count is what it was, less the purged messages: the kept ones from others, not deleted.
    expect((await c.get(`/api/conversations/${conversationId}/unread-count`)).body).toEqual({ conversationId, unreadCount: 3, unreadMentionCount: 1, lastReadSeq: 200 });
    expect((await b.get(`/api/conversations/${conversationId}/unread-count`)).body).toEqual({ conversationId, unreadCount: 3, unreadMentionCount: 0, lastReadSeq: 200 });
    expect((await a.get(`/api/conversations/${conversationId}/unread-count`)).body).toEqual({ conversationId, unreadCount: 2, unreadMentionCount: 0, lastReadSeq: 200 });
    expect((await c.get("/api/me/unread")).body).toEqual({ unreadCount: 3, unreadMentionCount: 1, unreadConversations: 1 });
    expect((await a.get("/api/me/unread")).body).toEqual({ unreadCount: 2, unreadMentionCount: 0, unreadConversations: 1 });

    // Reading on from there, and sending, keep counting right.
    expect((await c.put(`/api/messages/${fresh[3].id}/read`)).status).toBe(200);
    expect((await c.get(`/api/conversations/${conversationId}/unread-count`)).body).toMatchObject({ unreadCount: 1, unreadMentionCount: 0, lastReadSeq: 204 });
    const next = (await a.post(`/api/conversations/${conversationId}/messages`, { content: "after the purge" })).body;
    expect(next.seq).toBe(206);
    expect((await b.get(`/api/conversations/${conversationId}/unread-count`)).body).toMatchObject({ unreadCount: 4 });
    expect((await a.get(`/api/conversations/${conversationId}/unread-count`)).body).toMatchObject({ unreadCount: 2 });

    // One messages.expired per batch that removed some, written with it; the last names the cut.
    const events = await expiredEvents(conversationId);
    expect(events.map((e) => e.upToSeq)).toEqual([100, 200]);
    // A second pass finds nothing more to do.
    await purge();
    expect(await expiredEvents(conversationId)).toHaveLength(2);
  });

  test("a sync or page from a purged point answers the oldest kept messages with truncated: true", async () => {
    const { bob, conversationId, b } = await scene();
    const purgedId = await idOfSeq(conversationId, 42);
    await purge();
    const socket = await connectAs(svc.wsUrl, svc, bob);
    const seqs = (sync: { messages: { seq: number }[] }) => sync.messages.map((m) => m.seq);

    const fromOld = await ok(socket, "messages:sync", { conversationId, lastMessageId: purgedId });
    expect(seqs(fromOld)).toEqual([201, 202, 203, 204, 205]);
    expect(fromOld).toMatchObject({ hasMore: false, truncated: true });
    const fromStart = await ok(socket, "messages:sync", { conversationId });
    expect(fromStart.truncated).toBe(true);
    expect(seqs(fromStart)).toEqual([201, 202, 203, 204, 205]);
    expect(await ok(socket, "messages:sync", { conversationId, afterSeq: 150 })).toMatchObject({ truncated: true, messages: fromOld.messages });
    // From the cut itself or later, nothing is missing.
    const atCut = await ok(socket, "messages:sync", { conversationId, afterSeq: 200 });
    expect(seqs(atCut)).toEqual([201, 202, 203, 204, 205]);
    expect("truncated" in atCut).toBe(false);
    expect(seqs(await ok(socket, "messages:sync", { conversationId, afterSeq: 203 }))).toEqual([204, 205]);
    expect(seqs(await ok(socket, "messages:sync", { conversationId, afterSeq: 9999 }))).toEqual([]);

    // afterSeq is a non-negative integer, and not given with lastMessageId.
    for (const afterSeq of [-1, 1.5, "x", null]) {
      expect(await call(socket, "messages:sync", { conversationId, afterSeq } as never)).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    }
    expect(await call(socket, "messages:sync", { conversationId, afterSeq: 3, lastMessageId: purgedId })).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    // An unknown id made after the cut-off was never here: NOT_FOUND, as before.
    expect(await call(socket, "messages:sync", { conversationId, lastMessageId: Bun.randomUUIDv7() })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });

    // REST pages: after a purged id, from the oldest kept; before it, nothing is left.
    const after = (await b.get(`/api/conversations/${conversationId}/messages?after=${purgedId}&limit=2`)).body;
    expect(after.data.map((m: any) => m.seq)).toEqual([201, 202]);
    expect(after).toMatchObject({ hasMore: true, truncated: true });
    expect((await b.get(`/api/conversations/${conversationId}/messages?before=${purgedId}`)).body).toEqual({ data: [], hasMore: false, nextCursor: null, truncated: true });
    const next = (await b.get(`/api/conversations/${conversationId}/messages?after=${after.nextCursor}`)).body;
    expect(next.data.map((m: any) => m.seq)).toEqual([203, 204, 205]);
    expect("truncated" in next).toBe(false);
  });

  test("sends go on while a purge runs; no seq is reused", async () => {
    const [ann, bob] = (await makeUsers(svc, "ann", "bob")) as [string, string];
    const conversationId = await group(svc, ann, [bob]);
    await insertHistory(svc, conversationId, ann, 3000, { at: Date.now() - 45 * DAY });
    const b = await svc.as(bob);
    const purging = purge();
    const sent: any[] = [];
    for (let i = 0; i < 40; i++) {
      const res = await b.post(`/api/conversations/${conversationId}/messages`, { content: `during ${i}` });
      expect(res.status).toBe(201);
      sent.push(res.body);
    }
    await purging;
    await purge();
    expect(sent.map((m) => m.seq)).toEqual(Array.from({ length: 40 }, (_, i) => 3001 + i));
    const [left] = await rowsOf<{ n: number; min: number; last: number; expired: number }>(
      svc,
      sql`select count(*)::int as n, min(seq)::int as min, (select last_seq from conversations where id = ${conversationId}::uuid) as last,
        (select expired_up_to_seq from conversations where id = ${conversationId}::uuid) as expired
        from messages where conversation_id = ${conversationId}::uuid`,
    );
    expect(left).toEqual({ n: 40, min: 3001, last: 3040, expired: 3000 });
    expect((await b.post(`/api/conversations/${conversationId}/messages`, { content: "later" })).body.seq).toBe(3041);
    const events = await expiredEvents(conversationId);
    expect(events).toHaveLength(30);
    expect(events.at(-1)).toEqual({ conversationId, upToSeq: 3000 });
    // Bob's count: the 40 were his own; Ann's: his 41.
    expect((await b.get(`/api/conversations/${conversationId}/unread-count`)).body).toMatchObject({ unreadCount: 0 });
    expect((await (await svc.as(ann)).get(`/api/conversations/${conversationId}/unread-count`)).body).toMatchObject({ unreadCount: 41 });
  });

  test("a conversation wholly past the policy keeps its seq counter and shows no last message", async () => {
    const [ann, bob] = (await makeUsers(svc, "ann", "bob")) as [string, string];
    const conversationId = await group(svc, ann, [bob]);
    await insertHistory(svc, conversationId, bob, 20, { at: Date.now() - 31 * DAY });
    const a = await svc.as(ann);
    expect((await a.get(`/api/conversations/${conversationId}`)).body.unreadCount).toBe(20);
    await purge();
    const conversation = (await a.get(`/api/conversations/${conversationId}`)).body;
    expect(conversation).toMatchObject({ lastMessage: null, unreadCount: 0 });
    expect((await a.get(`/api/conversations/${conversationId}/messages`)).body).toEqual({ data: [], hasMore: false, nextCursor: null });
    expect((await a.post(`/api/conversations/${conversationId}/messages`, { content: "fresh start" })).body.seq).toBe(21);
  });
});
