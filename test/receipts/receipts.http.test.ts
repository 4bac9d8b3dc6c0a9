import { beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { queryRows } from "../../src/core/db/client";
import { type ApiClient, serviceForTests } from "../helpers/service";

const svc = serviceForTests();
let ann: ApiClient, bob: ApiClient, cat: ApiClient, eve: ApiClient;
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const UNKNOWN_ID = "018f0000-0000-7000-8000-000000000000";

beforeAll(async () => {
  await svc.syncUsers("ann", "bob", "cat", "eve");
  [ann, bob, cat, eve] = [await svc.as("ann"), await svc.as("bob"), await svc.as("cat"), await svc.as("eve")];
}, 60_000);

/** A group of ann, bob and cat with messages m1..m5: m4 is bob's, the others ann's. */
async function story(): Promise<{ id: string; m: string[] }> {
  const id = (await ann.post("/api/conversations", { type: "group", participantIds: ["bob", "cat"] })).body.id;
  const m: string[] = [];
  for (const [who, content] of [[ann, "m1"], [ann, "m2"], [ann, "m3"], [bob, "m4"], [ann, "m5"]] as const) {
    m.push((await who.post(`/api/conversations/${id}/messages`, { content })).body.id);
  }
  return { id, m };
}

const unread = async (client: ApiClient, id: string) => (await client.get(`/api/conversations/${id}/unread-count`)).body;

describe("unread counts", () => {
  test("messages from others after the watermark; the caller's own never count", async () => {
    const { id } = await story();
    expect(await unread(bob, id)).toEqual({ conversationId: id, unreadCount: 4, unreadMentionCount: 0, lastReadSeq: 0 });
    expect(await unread(cat, id)).toEqual({ conversationId: id, unreadCount: 5, unreadMentionCount: 0, lastReadSeq: 0 });
    expect(await unread(ann, id)).toEqual({ conversationId: id, unreadCount: 1, unreadMentionCount: 0, lastReadSeq: 0 });
    const conversation = (await bob.get(`/api/conversations/${id}`)).body;
    expect(conversation.unreadCount).toBe(4);
    const listedForCat = (await cat.get("/api/conversations")).body.data.find((c: { id: string }) => c.id === id);
    expect(listedForCat.unreadCount).toBe(5);
  });

  test("deleted messages are not unread", async () => {
    const { id, m } = await story();
    await ann.delete(`/api/messages/${m[1]}`);
    await bob.delete(`/api/messages/${m[3]}`);
    expect((await unread(cat, id)).unreadCount).toBe(3);
    expect((await unread(bob, id)).unreadCount).toBe(3);
  });

  test("outsiders, unknown and malformed ids", async () => {
    const { id } = await story();
    expect((await eve.get(`/api/conversations/${id}/unread-count`)).status).toBe(404);
    expect((await bob.get(`/api/conversations/${UNKNOWN_ID}/unread-count`)).status).toBe(404);
    expect((await bob.get("/api/conversations/abc/unread-count")).status).toBe(400);
  });
});

describe("marking one message read", () => {
  test("reading a message reads every earlier one", async () => {
    const { id, m } = await story();
    const res = await cat.put(`/api/messages/${m[2]}/read`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ messageId: m[2], conversationId: id, userId: "cat", readAt: expect.stringMatching(ISO_MS) });
    expect(await unread(cat, id)).toEqual({ conversationId: id, unreadCount: 2, unreadMentionCount: 0, lastReadSeq: 3 });
    const participant = (await ann.get(`/api/conversations/${id}`)).body.participants.find((p: { userId: string }) => p.userId === "cat");
    expect(participant.lastReadSeq).toBe(3);
  });

  test("the watermark never moves backwards; an earlier message reports when it was first read", async () => {
    const { id, m } = await story();
    const later = (await cat.put(`/api/messages/${m[3]}/read`)).body;
    await Bun.sleep(5);
    const earlier = await cat.put(`/api/messages/${m[0]}/read`);
    expect(earlier.status).toBe(200);
    expect(earlier.body).toEqual({ messageId: m[0], conversationId: id, userId: "cat", readAt: later.readAt });
    expect((await unread(cat, id)).lastReadSeq).toBe(4);
    // Reading the same message again does not move anything either.
    expect((await cat.put(`/api/messages/${m[3]}/read`)).body.readAt).toBe(later.readAt);
  });

  test("concurrent reads in any order leave the watermark at the highest", async () => {
    const { id, m } = await story();
    await Promise.all([m[4], m[0], m[2], m[1], m[3]].map((messageId) => cat.put(`/api/messages/${messageId}/read`)));
    expect(await unread(cat, id)).toEqual({ conversationId: id, unreadCount: 0, unreadMentionCount: 0, lastReadSeq: 5 });
  });

  test("outsiders, unknown and malformed ids change nothing", async () => {
    const { id, m } = await story();
    expect((await eve.put(`/api/messages/${m[4]}/read`)).status).toBe(404);
    expect((await cat.put(`/api/messages/${UNKNOWN_ID}/read`)).status).toBe(404);
    const malformed = await cat.put("/api/messages/not-a-uuid/read");
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("VALIDATION_ERROR");
    expect((await unread(cat, id)).lastReadSeq).toBe(0);
  });
});

describe("marking a conversation read", () => {
  test("count is the number of messages from others newly read", async () => {
    const { id, m } = await story();
    const upTo = await bob.put(`/api/conversations/${id}/read`, { upToMessageId: m[2] });
    expect(upTo.status).toBe(200);
    expect(upTo.body).toEqual({ conversationId: id, userId: "bob", upToMessageId: m[2], count: 3, readAt: expect.stringMatching(ISO_MS) });
    // The rest: m4 is bob's own and does not count, m5 does.
    const rest = await bob.put(`/api/conversations/${id}/read`, {});
    expect(rest.body).toMatchObject({ upToMessageId: m[4], count: 1 });
    expect(await unread(bob, id)).toEqual({ conversationId: id, unreadCount: 0, unreadMentionCount: 0, lastReadSeq: 5 });
    expect((await bob.put(`/api/conversations/${id}/read`)).body).toMatchObject({ upToMessageId: m[4], count: 0 });
  });

  test("going back is a no-op: count 0 and the watermark stays", async () => {
    const { id, m } = await story();
    await cat.put(`/api/conversations/${id}/read`, {});
    const back = await cat.put(`/api/conversations/${id}/read`, { upToMessageId: m[0] });
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ upToMessageId: m[0], count: 0 });
    expect((await unread(cat, id)).lastReadSeq).toBe(5);
  });

  test("deleted messages are not counted as newly read", async () => {
    const { id, m } = await story();
    await ann.delete(`/api/messages/${m[0]}`);
    expect((await cat.put(`/api/conversations/${id}/read`, { upToMessageId: m[2] })).body.count).toBe(2);
  });

  test("an empty conversation reads with count 0 and no message", async () => {
    const id = (await ann.post("/api/conversations", { type: "group", participantIds: ["bob"] })).body.id;
    const res = await bob.put(`/api/conversations/${id}/read`, {});
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ conversationId: id, userId: "bob", upToMessageId: null, count: 0 });
  });

  test("bad requests: outsiders, unknown, foreign and malformed ids", async () => {
    const { id } = await story();
    const other = await story();
    for (const [res, status] of [
      [await eve.put(`/api/conversations/${id}/read`, {}), 404],
      [await bob.put(`/api/conversations/${UNKNOWN_ID}/read`, {}), 404],
      [await bob.put(`/api/conversations/${id}/read`, { upToMessageId: UNKNOWN_ID }), 404],
      [await bob.put(`/api/conversations/${id}/read`, { upToMessageId: other.m[0] }), 404],
      [await bob.put(`/api/conversations/${id}/read`, { upToMessageId: "m1" }), 400],
      [await bob.put("/api/conversations/x/read", {}), 400],
    ] as const) {
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(status === 404 ? "NOT_FOUND" : "VALIDATION_ERROR");
    }
    expect((await unread(bob, id)).lastReadSeq).toBe(0);
  });
});

describe("who has read a message", () => {
  test("the other participants who read it, each with when they first did", async () => {
    const { id, m } = await story();
    expect((await ann.get(`/api/messages/${m[1]}/read`)).body.data).toEqual([]);

    const bobRead = (await bob.put(`/api/messages/${m[2]}/read`)).body;
    await Bun.sleep(5);
    const catRead = (await cat.put(`/api/conversations/${id}/read`, {})).body;
    const readers = await ann.get(`/api/messages/${m[1]}/read`);
    expect(readers.status).toBe(200);
    expect(readers.body.data).toEqual([
      { userId: "bob", readAt: bobRead.readAt },
      { userId: "cat", readAt: catRead.readAt },
    ]);
    // A later read does not change when an earlier message was first read.
    await bob.put(`/api/conversations/${id}/read`, {});
    expect((await cat.get(`/api/messages/${m[1]}/read`)).body.data[0]).toEqual({ userId: "bob", readAt: bobRead.readAt });
    // m5 has been read by cat only so far.
    expect((await ann.get(`/api/messages/${m[4]}/read`)).body.data.map((r: { userId: string }) => r.userId)).toEqual(["cat", "bob"]);
  });

  test("the sender is never listed as a reader of their own message", async () => {
    const { id, m } = await story();
    await ann.put(`/api/conversations/${id}/read`, {});
    await bob.put(`/api/conversations/${id}/read`, {});
    expect((await ann.get(`/api/messages/${m[3]}/read`)).body.data.map((r: { userId: string }) => r.userId)).toEqual(["ann"]);
    expect((await bob.get(`/api/messages/${m[0]}/read`)).body.data.map((r: { userId: string }) => r.userId)).toEqual(["bob"]);
  });

  test("someone added after a message starts with it read, from the time they joined", async () => {
    const { id, m } = await story();
    const added = (await ann.post(`/api/conversations/${id}/participants`, { userIds: ["eve"] })).body;
    const joinedAt = added.participants.find((p: { userId: string }) => p.userId === "eve").joinedAt;
    expect((await ann.get(`/api/messages/${m[0]}/read`)).body.data).toEqual([{ userId: "eve", readAt: joinedAt }]);
    expect((await eve.put(`/api/messages/${m[0]}/read`)).body).toMatchObject({ userId: "eve", readAt: joinedAt });
    expect(await unread(eve, id)).toEqual({ conversationId: id, unreadCount: 0, unreadMentionCount: 0, lastReadSeq: 5 });
    await ann.delete(`/api/conversations/${id}/participants/eve`);
  });

  test("outsiders, unknown and malformed ids", async () => {
    const { m } = await story();
    expect((await eve.get(`/api/messages/${m[0]}/read`)).status).toBe(404);
    expect((await ann.get(`/api/messages/${UNKNOWN_ID}/read`)).status).toBe(404);
    expect((await ann.get("/api/messages/1/read")).status).toBe(400);
  });
});

describe("bounded read history", () => {
  const marksOf = async (conversationId: string, userId: string) =>
    (
      await queryRows<{ n: number }>(
        svc.app.ctx.db,
        sql`select count(*)::int as n from read_marks where conversation_id = ${conversationId} and user_id = ${userId}`,
      )
    )[0]!.n;

  test("the newest 64 watermark moves are kept: recent messages report exact times, older ones the oldest kept", async () => {
    const id = (await bob.post("/api/conversations", { type: "group", participantIds: ["ann"] })).body.id;
    const m: string[] = [];
    for (let i = 1; i <= 70; i++) m.push((await bob.post(`/api/conversations/${id}/messages`, { content: `n${i}` })).body.id);
    // Ann reads one message at a time: 70 moves of her watermark.
    const readAt: string[] = [];
    for (const messageId of m) readAt.push((await ann.put(`/api/messages/${messageId}/read`)).body.readAt);
    expect(await marksOf(id, "ann")).toBe(64);

    const readerOf = async (i: number) => (await bob.get(`/api/messages/${m[i]}/read`)).body.data;
    expect(await readerOf(69)).toEqual([{ userId: "ann", readAt: readAt[69] }]);
    expect(await readerOf(6)).toEqual([{ userId: "ann", readAt: readAt[6] }]);
    // Moves 1 to 6 are forgotten: the oldest kept (message 7's) stands in.
    expect(await readerOf(0)).toEqual([{ userId: "ann", readAt: readAt[6] }]);
    expect((await ann.put(`/api/messages/${m[0]}/read`)).body.readAt).toBe(readAt[6]);
  });

  test("leaving, or being removed, forgets the participant's read marks", async () => {
    const { id } = await story();
    await bob.put(`/api/messages/${(await ann.post(`/api/conversations/${id}/messages`, { content: "m6" })).body.id}/read`);
    await cat.put(`/api/conversations/${id}/read`, {});
    expect(await marksOf(id, "bob")).toBe(1);
    expect(await marksOf(id, "cat")).toBe(1);
    expect((await bob.delete(`/api/conversations/${id}/participants/bob`)).status).toBe(204);
    expect((await ann.delete(`/api/conversations/${id}/participants/cat`)).status).toBe(204);
    expect(await marksOf(id, "bob")).toBe(0);
    expect(await marksOf(id, "cat")).toBe(0);
  });
});
