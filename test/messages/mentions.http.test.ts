import { beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { queryRows } from "../../src/core/db/client";
import { totalsQuery } from "../../src/receipts/service";
import { type ApiClient, serviceForTests } from "../helpers/service";

/** A group of "ann" (owner), "bob" and "cat"; "eve" is in none of them, "ghost" was never synced. */
const svc = serviceForTests();
let ann: ApiClient, bob: ApiClient, cat: ApiClient, eve: ApiClient;
const UNKNOWN_ID = "018f0000-0000-7000-8000-000000000000";

beforeAll(async () => {
  await svc.syncUsers("ann", "bob", "cat", "eve");
  [ann, bob, cat, eve] = [await svc.as("ann"), await svc.as("bob"), await svc.as("cat"), await svc.as("eve")];
}, 60_000);

async function trio(): Promise<string> {
  const res = await ann.post("/api/conversations", { type: "group", participantIds: ["bob", "cat"] });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function send(who: ApiClient, conversationId: string, content: string, mentions?: string[]) {
  const res = await who.post(`/api/conversations/${conversationId}/messages`, { content, ...(mentions && { mentions }) });
  expect(res.status).toBe(201);
  return res.body as { id: string; seq: number; mentions: string[] };
}

const unread = async (who: ApiClient, id: string) => (await who.get(`/api/conversations/${id}/unread-count`)).body;
const totals = async (who: ApiClient) => (await who.get("/api/me/unread")).body;

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
}

/** Unread messages counted the long way, from the messages themselves: what the counters must agree with. */
async function countedFromHistory(userId: string, conversationId: string) {
  const [row] = await queryRows<{ unread: number; mentions: number; marker: number }>(
    svc.app.ctx.db,
    sql`select
      (select count(*) from messages m where m.conversation_id = p.conversation_id and m.seq > coalesce(p.own_read_seq, p.last_read_seq)
         and m.sender_id <> p.user_id and m.deleted_at is null)::int as unread,
      (select count(*) from messages m where m.conversation_id = p.conversation_id and m.seq > coalesce(p.own_read_seq, p.last_read_seq)
         and m.sender_id <> p.user_id and m.deleted_at is null and p.user_id = any(m.mentions))::int as mentions,
      coalesce(p.own_read_seq, p.last_read_seq) as marker
    from participants p where p.conversation_id = ${conversationId} and p.user_id = ${userId}`,
  );
  return { conversationId, unreadCount: row!.unread, unreadMentionCount: row!.mentions, lastReadSeq: row!.marker };
}

describe("mentions on a send", () => {
  test("the message carries them once each, in order; each mentioned participant counts an unread mention", async () => {
    const id = await trio();
    const sent = await send(ann, id, "@bob @cat look", ["bob", "cat", "bob", "ann"]);
    expect(sent.mentions).toEqual(["bob", "cat", "ann"]);
    expect((await bob.get(`/api/messages/${sent.id}`)).body.mentions).toEqual(["bob", "cat", "ann"]);
    expect((await cat.get(`/api/conversations/${id}/messages`)).body.data[0].mentions).toEqual(["bob", "cat", "ann"]);
    const plain = await send(cat, id, "no one");
    expect(plain.mentions).toEqual([]);
    expect(await unread(bob, id)).toEqual({ conversationId: id, unreadCount: 2, unreadMentionCount: 1, lastReadSeq: 0 });
    // Cat's own message is never unread to her; the sender mentioning herself is no unread mention.
    expect(await unread(cat, id)).toEqual({ conversationId: id, unreadCount: 1, unreadMentionCount: 1, lastReadSeq: 0 });
    expect(await unread(ann, id)).toEqual({ conversationId: id, unreadCount: 1, unreadMentionCount: 0, lastReadSeq: 0 });
    const conversation = (await bob.get(`/api/conversations/${id}`)).body;
    expect(conversation).toMatchObject({ unreadCount: 2, unreadMentionCount: 1 });
    const listed = (await cat.get("/api/conversations")).body.data.find((c: { id: string }) => c.id === id);
    expect(listed).toMatchObject({ unreadCount: 1, unreadMentionCount: 1 });
  });

  test("mentioning someone who is not a participant is 400 with details.userIds, and nothing is stored", async () => {
    const id = await trio();
    await send(ann, id, "first");
    const refused = await ann.post(`/api/conversations/${id}/messages`, { content: "hey", mentions: ["bob", "eve", "ghost", "eve"], clientMessageId: "c-1" });
    expectError(refused, 400, "VALIDATION_ERROR");
    expect(refused.body.error.details).toEqual({ userIds: ["eve", "ghost"] });
    // No seq was used: the next message is 2, and the refused one cannot be found by its client id.
    const next = await send(ann, id, "second");
    expect(next.seq).toBe(2);
    expect((await ann.get(`/api/conversations/${id}/messages`)).body.data.map((m: { content: string }) => m.content)).toEqual(["first", "second"]);
    expect((await unread(bob, id)).unreadMentionCount).toBe(0);
    const retried = await ann.post(`/api/conversations/${id}/messages`, { content: "hey", mentions: ["bob"], clientMessageId: "c-1" });
    expect(retried.status).toBe(201);
    expect(retried.body.seq).toBe(3);
  });

  test("a former participant can no longer be mentioned", async () => {
    const id = await trio();
    expect((await ann.delete(`/api/conversations/${id}/participants/cat`)).status).toBe(204);
    const refused = await bob.post(`/api/conversations/${id}/messages`, { content: "cat?", mentions: ["cat"] });
    expectError(refused, 400, "VALIDATION_ERROR");
    expect(refused.body.error.details).toEqual({ userIds: ["cat"] });
  });

  test("at most 50 mentions, each a valid external id", async () => {
    const id = await trio();
    const fifty = Array.from({ length: 50 }, () => "bob");
    expect((await send(ann, id, "many", fifty)).mentions).toEqual(["bob"]);
    expectError(await ann.post(`/api/conversations/${id}/messages`, { content: "too many", mentions: [...fifty, "cat"] }), 400, "VALIDATION_ERROR");
    expectError(await ann.post(`/api/conversations/${id}/messages`, { content: "bad id", mentions: ["not valid!"] }), 400, "VALIDATION_ERROR");
    expectError(await ann.post(`/api/conversations/${id}/messages`, { content: "not a list", mentions: "bob" }), 400, "VALIDATION_ERROR");
    expect((await ann.get(`/api/conversations/${id}/messages`)).body.data).toHaveLength(1);
  });
});

describe("unread mentions", () => {
  test("reading up to a mention clears it from the count; later ones still count", async () => {
    const id = await trio();
    const first = await send(ann, id, "@bob one", ["bob"]);
    await send(cat, id, "between");
    const second = await send(cat, id, "@bob two", ["bob"]);
    expect((await unread(bob, id)).unreadMentionCount).toBe(2);
    await bob.put(`/api/messages/${first.id}/read`);
    expect(await unread(bob, id)).toEqual({ conversationId: id, unreadCount: 2, unreadMentionCount: 1, lastReadSeq: 1 });
    await bob.put(`/api/conversations/${id}/read`, { upToMessageId: second.id });
    expect(await unread(bob, id)).toEqual({ conversationId: id, unreadCount: 0, unreadMentionCount: 0, lastReadSeq: 3 });
  });

  test("a deleted message's mention no longer counts, and the tombstone mentions no one", async () => {
    const id = await trio();
    const sent = await send(ann, id, "@bob soon gone", ["bob", "cat"]);
    await send(ann, id, "@bob stays", ["bob"]);
    expect((await unread(bob, id)).unreadMentionCount).toBe(2);
    expect((await ann.delete(`/api/messages/${sent.id}`)).status).toBe(204);
    expect(await unread(bob, id)).toEqual({ conversationId: id, unreadCount: 1, unreadMentionCount: 1, lastReadSeq: 0 });
    expect((await unread(cat, id)).unreadMentionCount).toBe(0);
    expect((await bob.get(`/api/messages/${sent.id}`)).body).toMatchObject({ isDeleted: true, mentions: [] });
  });

  test("an edit replaces the mentions and the counts follow; without mentions it keeps them", async () => {
    const id = await trio();
    const sent = await send(ann, id, "@bob hi", ["bob"]);
    const edited = await ann.patch(`/api/messages/${sent.id}`, { content: "@cat hi", mentions: ["cat", "cat"] });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ content: "@cat hi", mentions: ["cat"], isEdited: true });
    expect((await unread(bob, id)).unreadMentionCount).toBe(0);
    expect((await unread(cat, id)).unreadMentionCount).toBe(1);
    const contentOnly = await ann.patch(`/api/messages/${sent.id}`, { content: "@cat hello" });
    expect(contentOnly.body.mentions).toEqual(["cat"]);
    expect((await unread(cat, id)).unreadMentionCount).toBe(1);
    const cleared = await ann.patch(`/api/messages/${sent.id}`, { content: "@cat hello", mentions: [] });
    expect(cleared.body).toMatchObject({ content: "@cat hello", mentions: [] });
    expect((await unread(cat, id)).unreadMentionCount).toBe(0);
    expect((await bob.get(`/api/messages/${sent.id}`)).body.mentions).toEqual([]);
  });

  test("an edit mentioning a non-participant is 400 with details.userIds and changes nothing", async () => {
    const id = await trio();
    const sent = await send(ann, id, "@bob hi", ["bob"]);
    const refused = await ann.patch(`/api/messages/${sent.id}`, { content: "changed", mentions: ["eve", "bob", "ghost"] });
    expectError(refused, 400, "VALIDATION_ERROR");
    expect(refused.body.error.details).toEqual({ userIds: ["eve", "ghost"] });
    expect((await bob.get(`/api/messages/${sent.id}`)).body).toMatchObject({ content: "@bob hi", mentions: ["bob"], isEdited: false });
    expect((await unread(bob, id)).unreadMentionCount).toBe(1);
    const tooMany = await ann.patch(`/api/messages/${sent.id}`, { content: "x", mentions: Array.from({ length: 51 }, () => "bob") });
    expectError(tooMany, 400, "VALIDATION_ERROR");
  });
});

describe("GET /api/me/unread", () => {
  test("sums over every conversation of the caller: unread messages, unread mentions and conversations with unread", async () => {
    await svc.syncUsers("dan", "fay");
    const [dan, fay] = [await svc.as("dan"), await svc.as("fay")];
    expect(await totals(dan)).toEqual({ unreadCount: 0, unreadMentionCount: 0, unreadConversations: 0 });
    const one = (await dan.post("/api/conversations", { type: "group", participantIds: ["fay"] })).body.id;
    const two = (await fay.post("/api/conversations", { type: "direct", participantIds: ["dan"] })).body.id;
    const quiet = (await fay.post("/api/conversations", { type: "group", participantIds: ["dan"] })).body.id;
    await send(fay, one, "a");
    await send(fay, one, "@dan b", ["dan"]);
    await send(dan, one, "mine");
    await send(fay, two, "@dan c", ["dan"]);
    const gone = await send(fay, two, "@dan d", ["dan"]);
    await fay.delete(`/api/messages/${gone.id}`);
    await send(fay, quiet, "e");
    // Muting a conversation would not change it either: totals cover every conversation.
    expect(await totals(dan)).toEqual({ unreadCount: 4, unreadMentionCount: 2, unreadConversations: 3 });
    await dan.put(`/api/conversations/${quiet}/read`);
    expect(await totals(dan)).toEqual({ unreadCount: 3, unreadMentionCount: 2, unreadConversations: 2 });
    await dan.put(`/api/conversations/${two}/read`);
    expect(await totals(dan)).toEqual({ unreadCount: 2, unreadMentionCount: 1, unreadConversations: 1 });
    const perConversation = await Promise.all([one, two, quiet].map((id) => unread(dan, id)));
    expect(perConversation.map((u) => u.unreadCount).reduce((a, b) => a + b)).toBe(2);
    expect(await totals(fay)).toEqual({ unreadCount: 1, unreadMentionCount: 0, unreadConversations: 1 });
  });

  test("answered by one statement from indexes: no message is read, only tombstones and mentions", async () => {
    const id = await trio();
    await send(ann, id, "@bob x", ["bob"]);
    const plan = await svc.app.ctx.db.transaction(async (tx) => {
      // A table this small is read whole otherwise; with sequential scans off, what is left is what an index can serve.
      await tx.execute(sql`set local enable_seqscan = off`);
      return queryRows<Record<string, string>>(tx, sql`explain ${totalsQuery(tx, "bob")}`);
    });
    const lines = plan.map((row) => Object.values(row)[0]!);
    expect(lines.filter((l) => /Seq Scan/.test(l))).toEqual([]);
    // Every reach into messages goes through the partial index of tombstones.
    const onMessages = lines.filter((l) => / on messages\b/.test(l));
    expect(onMessages.length).toBeGreaterThan(0);
    for (const line of onMessages) expect(line).toContain("messages_deleted_idx");
    expect(lines.some((l) => /mentions_pkey|mentions_user_id_conversation_id_seq_pk/.test(l))).toBe(true);
  });

  test("a deleted user is 401 USER_NOT_FOUND", async () => {
    await svc.syncUsers("gil");
    const gil = await svc.as("gil");
    expect((await totals(gil)).unreadCount).toBe(0);
    expect((await svc.internal("DELETE", "/api/users/gil")).status).toBe(204);
    expectError(await gil.get("/api/me/unread"), 401, "USER_NOT_FOUND");
  });
});

describe("mark unread", () => {
  test("the caller's own marker goes back; what others see of their reading stays", async () => {
    const id = await trio();
    const m = [];
    m.push(await send(ann, id, "one"));
    m.push(await send(ann, id, "@bob two", ["bob"]));
    m.push(await send(bob, id, "three (bob's)"));
    m.push(await send(ann, id, "four"));
    await bob.put(`/api/conversations/${id}/read`);
    expect((await bob.get(`/api/messages/${m[1]!.id}/read`)).body.data.map((r: { userId: string }) => r.userId)).toEqual(["bob"]);

    const res = await bob.put(`/api/conversations/${id}/unread`, { messageId: m[1]!.id });
    expect(res.status).toBe(200);
    // Two, four: bob's own three is never unread.
    expect(res.body).toEqual({ conversationId: id, userId: "bob", lastReadSeq: 1, unreadCount: 2 });
    expect(await unread(bob, id)).toEqual({ conversationId: id, unreadCount: 2, unreadMentionCount: 1, lastReadSeq: 1 });
    expect(await unread(bob, id)).toEqual(await countedFromHistory("bob", id));
    // Others still see bob's watermark and receipt where they were.
    const participant = (await ann.get(`/api/conversations/${id}`)).body.participants.find((p: { userId: string }) => p.userId === "bob");
    expect(participant.lastReadSeq).toBe(4);
    expect((await ann.get(`/api/messages/${m[1]!.id}/read`)).body.data.map((r: { userId: string }) => r.userId)).toEqual(["bob"]);
    // Reading again moves the marker forward, as far as read.
    await bob.put(`/api/messages/${m[2]!.id}/read`);
    expect(await unread(bob, id)).toEqual({ conversationId: id, unreadCount: 1, unreadMentionCount: 0, lastReadSeq: 3 });
    expect(await unread(bob, id)).toEqual(await countedFromHistory("bob", id));
    expect((await ann.get(`/api/conversations/${id}`)).body.participants.find((p: { userId: string }) => p.userId === "bob").lastReadSeq).toBe(4);
    const all = await bob.put(`/api/conversations/${id}/read`);
    expect(all.body.count).toBe(1);
    expect(await unread(bob, id)).toEqual({ conversationId: id, unreadCount: 0, unreadMentionCount: 0, lastReadSeq: 4 });
  });

  test("after leaving and coming back, marking old history unread counts its mentions again", async () => {
    const id = await trio();
    await send(ann, id, "one");
    const mentioned = await send(ann, id, "@cat two", ["cat"]);
    expect((await ann.delete(`/api/conversations/${id}/participants/cat`)).status).toBe(204);
    expect((await ann.post(`/api/conversations/${id}/participants`, { userIds: ["cat"] })).status).toBe(200);
    // Back with the history read.
    expect((await unread(cat, id)).unreadMentionCount).toBe(0);
    await send(ann, id, "@cat three", ["cat"]);
    expect((await cat.put(`/api/conversations/${id}/unread`, { messageId: mentioned.id })).status).toBe(200);
    expect(await unread(cat, id)).toEqual({ conversationId: id, unreadCount: 2, unreadMentionCount: 2, lastReadSeq: 1 });
    expect(await unread(cat, id)).toEqual(await countedFromHistory("cat", id));
  });

  test("from the first message: everything from others is unread again; a later message moves the marker forward", async () => {
    const id = await trio();
    const first = await send(cat, id, "one");
    await send(bob, id, "two");
    const third = await send(cat, id, "three");
    expect((await bob.put(`/api/conversations/${id}/unread`, { messageId: first.id })).body).toEqual({ conversationId: id, userId: "bob", lastReadSeq: 0, unreadCount: 2 });
    expect((await bob.put(`/api/conversations/${id}/unread`, { messageId: third.id })).body).toEqual({ conversationId: id, userId: "bob", lastReadSeq: 2, unreadCount: 1 });
    expect(await unread(bob, id)).toEqual(await countedFromHistory("bob", id));
  });

  test("the counters agree with the history through sends, deletions, reads and marks", async () => {
    const id = await trio();
    const people = { ann, bob, cat };
    const sent: { id: string }[] = [];
    const check = async () => {
      for (const [name, who] of Object.entries(people)) expect(await unread(who, id)).toEqual(await countedFromHistory(name, id));
    };
    const script: [keyof typeof people, string, number?][] = [
      ["ann", "send"], ["bob", "send"], ["bob", "send"], ["cat", "send"], ["ann", "read", 2], ["bob", "unread", 0],
      ["bob", "send"], ["ann", "delete", 0], ["cat", "read", 6], ["cat", "unread", 1], ["cat", "send"], ["bob", "delete", 2],
      ["ann", "unread", 3], ["ann", "send"], ["bob", "read", 4], ["cat", "read", 8], ["ann", "read", 8], ["bob", "unread", 5],
    ];
    for (const [name, action, n] of script) {
      const who = people[name];
      if (action === "send") sent.push(await send(who, id, `${name} ${sent.length}`, ["ann", "bob", "cat"].filter((p) => p !== name).slice(0, 1 + (sent.length % 2))));
      if (action === "read") expect((await who.put(`/api/messages/${sent[Math.min(n!, sent.length - 1)]!.id}/read`)).status).toBe(200);
      if (action === "unread") expect((await who.put(`/api/conversations/${id}/unread`, { messageId: sent[n!]!.id })).status).toBe(200);
      if (action === "delete") await people.ann.delete(`/api/messages/${sent[n!]!.id}`);
      await check();
    }
  });

  test("sends, reads and marks of one reader at the same time all succeed and leave the counters right", async () => {
    const id = await trio();
    const first = await send(ann, id, "start", ["bob"]);
    const work: Promise<{ status: number }>[] = [];
    for (let i = 0; i < 12; i++) {
      work.push(bob.post(`/api/conversations/${id}/messages`, { content: `bob ${i}`, mentions: ["ann"] }));
      work.push(ann.post(`/api/conversations/${id}/messages`, { content: `ann ${i}`, mentions: ["bob"] }));
      work.push(bob.put(`/api/conversations/${id}/read`));
      work.push(bob.put(`/api/messages/${first.id}/read`));
      if (i % 3 === 0) work.push(bob.put(`/api/conversations/${id}/unread`, { messageId: first.id }));
    }
    const statuses = (await Promise.all(work)).map((r) => r.status);
    expect(statuses.filter((s) => s !== 200 && s !== 201)).toEqual([]);
    expect(await unread(bob, id)).toEqual(await countedFromHistory("bob", id));
    expect(await unread(ann, id)).toEqual(await countedFromHistory("ann", id));
  });

  test("a read waits for a send that holds the conversation instead of deadlocking with it", async () => {
    const id = await trio();
    const first = await send(ann, id, "one");
    let read: Promise<{ status: number }> | undefined;
    // What the send statement does: the conversation locked first, then its sender's participant row bumped.
    await svc.app.ctx.db.transaction(async (tx) => {
      await tx.execute(sql`select id from conversations where id = ${id} for update`);
      read = bob.put(`/api/messages/${first.id}/read`);
      await Bun.sleep(300);
      await tx.execute(sql`update participants set sent_since_read = sent_since_read where conversation_id = ${id} and user_id = 'bob'`);
    });
    expect((await read!).status).toBe(200);
    expect((await unread(bob, id)).lastReadSeq).toBe(1);
  });

  test("outsiders, unknown, foreign and malformed ids; deleted users", async () => {
    const id = await trio();
    const sent = await send(ann, id, "one");
    const other = await trio();
    const foreign = await send(ann, other, "elsewhere");
    expectError(await eve.put(`/api/conversations/${id}/unread`, { messageId: sent.id }), 404, "NOT_FOUND");
    expectError(await bob.put(`/api/conversations/${UNKNOWN_ID}/unread`, { messageId: sent.id }), 404, "NOT_FOUND");
    expectError(await bob.put(`/api/conversations/${id}/unread`, { messageId: UNKNOWN_ID }), 404, "NOT_FOUND");
    expectError(await bob.put(`/api/conversations/${id}/unread`, { messageId: foreign.id }), 404, "NOT_FOUND");
    expectError(await bob.put(`/api/conversations/${id}/unread`, { messageId: "nope" }), 400, "VALIDATION_ERROR");
    expectError(await bob.put(`/api/conversations/${id}/unread`, {}), 400, "VALIDATION_ERROR");
    expectError(await bob.put("/api/conversations/nope/unread", { messageId: sent.id }), 400, "VALIDATION_ERROR");
    expect((await unread(bob, id)).lastReadSeq).toBe(0);
    await svc.syncUsers("hal");
    const hal = await svc.as("hal");
    await ann.post(`/api/conversations/${id}/participants`, { userIds: ["hal"] });
    expect((await svc.internal("DELETE", "/api/users/hal")).status).toBe(204);
    expectError(await hal.put(`/api/conversations/${id}/unread`, { messageId: sent.id }), 401, "USER_NOT_FOUND");
  });
});
