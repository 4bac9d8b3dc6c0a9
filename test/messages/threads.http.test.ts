/**
 * Threads over REST: a reply names a top-level message of its conversation as `parentId`; the
 * parent counts its replies not deleted and knows when the newest was sent; the conversation's
 * list shows top-level messages unless asked for replies; a thread pages like a conversation.
 */
import { describe, expect, test } from "bun:test";
import { eventually } from "../helpers/sockets";
import { teamCast } from "../helpers/team";
import { serviceWithReceiver, WHSEC_SECRET } from "../webhooks/receiver";

const { svc, receiver } = serviceWithReceiver(WHSEC_SECRET);
const { as, team, send } = teamCast(svc);
const UNKNOWN_ID = "018f0000-0000-7000-8000-000000000000";

const reply = (who: string, conversationId: string, parentId: string, content = "reply") => send(who, conversationId, { content, parentId });
const read = async (messageId: string) => (await as("own").get(`/api/messages/${messageId}`)).body;
const counters = async (messageId: string) => {
  const { replyCount, lastReplyAt } = await read(messageId);
  return { replyCount, lastReplyAt };
};
const page = async (path: string, who = "own") => {
  const res = await as(who).get(path);
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { data: any[]; hasMore: boolean; nextCursor: string | null };
};
const contents = (messages: { content: string }[]) => messages.map((m) => m.content);

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
}

/** The seq the next message of the conversation gets: proves a refused send took none. */
async function nextSeq(conversationId: string): Promise<number> {
  return (await send("own", conversationId, { content: "probe" })).seq;
}

describe("replying", () => {
  test("a reply takes the next seq, shows its parent, updates the parent's counters and the conversation's last message", async () => {
    const id = await team();
    const parent = await send("mem", id, { content: "question" });
    expect({ parentId: parent.parentId, replyCount: parent.replyCount, lastReplyAt: parent.lastReplyAt }).toEqual({ parentId: null, replyCount: 0, lastReplyAt: null });

    const answer = await reply("mia", id, parent.id, "answer");
    expect(answer).toMatchObject({ conversationId: id, seq: parent.seq + 1, parentId: parent.id, replyCount: 0, lastReplyAt: null, content: "answer" });
    expect(await read(answer.id)).toEqual(answer);

    const after = await read(parent.id);
    expect(after).toEqual({ ...parent, replyCount: 1, lastReplyAt: answer.createdAt });
    const second = await reply("own", id, parent.id, "second");
    expect(await counters(parent.id)).toEqual({ replyCount: 2, lastReplyAt: second.createdAt });

    const conversation = (await as("mem").get(`/api/conversations/${id}`)).body;
    expect(conversation.lastMessage).toEqual(second);
    // Replies count as unread like any message: mem has read nothing of the others'.
    expect((await as("mem").get(`/api/conversations/${id}/unread-count`)).body.unreadCount).toBe(2);
  });

  test("a reply to a reply, to a message of another conversation or to an unknown one is 400 and takes no seq", async () => {
    const id = await team();
    const other = await team();
    const parent = await send("mem", id, { content: "question" });
    const answer = await reply("mia", id, parent.id);
    const elsewhere = await send("mem", other, { content: "elsewhere" });

    for (const parentId of [answer.id, elsewhere.id, UNKNOWN_ID]) {
      const res = await as("mia").post(`/api/conversations/${id}/messages`, { content: "x", parentId });
      expectError(res, 400, "VALIDATION_ERROR");
      expect(res.body.error.details).toEqual([{ path: "/parentId", message: expect.any(String) }]);
    }
    expectError(await as("mia").post(`/api/conversations/${id}/messages`, { content: "x", parentId: "not-a-uuid" }), 400, "VALIDATION_ERROR");
    expectError(await as("mia").post(`/api/conversations/${id}/messages`, { content: "x", parentId: 7 }), 400, "VALIDATION_ERROR");
    expect(await nextSeq(id)).toBe(answer.seq + 1);
    expect(await counters(parent.id)).toEqual({ replyCount: 1, lastReplyAt: answer.createdAt });
    expect((await read(elsewhere.id)).replyCount).toBe(0);
    // parentId: null is a top-level message.
    expect((await send("mia", id, { content: "top", parentId: null })).parentId).toBeNull();
  });

  test("a reply to a deleted message is 409 and takes no seq; its thread stays readable", async () => {
    const id = await team();
    const parent = await send("mem", id, { content: "question" });
    const answer = await reply("mia", id, parent.id);
    expect((await as("mem").delete(`/api/messages/${parent.id}`)).status).toBe(204);

    expectError(await as("mia").post(`/api/conversations/${id}/messages`, { content: "late", parentId: parent.id }), 409, "CONFLICT");
    expect(await nextSeq(id)).toBe(answer.seq + 1);
    // The tombstone keeps its counters; the reply is still there.
    expect(await read(parent.id)).toMatchObject({ isDeleted: true, replyCount: 1, lastReplyAt: answer.createdAt });
    expect(contents((await page(`/api/messages/${parent.id}/replies`)).data)).toEqual(["reply"]);
  });

  test("a retry of a stored reply (same clientMessageId) answers it with 200 and counts it once", async () => {
    const id = await team();
    const parent = await send("mem", id, { content: "question" });
    const first = await send("mia", id, { content: "once", parentId: parent.id, clientMessageId: "c-1" });
    const again = await as("mia").post(`/api/conversations/${id}/messages`, { content: "once", parentId: parent.id, clientMessageId: "c-1" });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first);
    expect(await counters(parent.id)).toEqual({ replyCount: 1, lastReplyAt: first.createdAt });
  });

  test("replies sent together in one request burst are each counted", async () => {
    const id = await team();
    const parent = await send("mem", id, { content: "question" });
    const sent = await Promise.all(Array.from({ length: 30 }, (_, i) => reply(["own", "adm", "mem", "mia"][i % 4]!, id, parent.id, `r${i}`)));
    const newest = sent.reduce((a, b) => (a.seq > b.seq ? a : b));
    expect(await counters(parent.id)).toEqual({ replyCount: 30, lastReplyAt: newest.createdAt });
    expect(sent.map((m) => m.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => parent.seq + 1 + i));
  });
});

describe("deleting and editing", () => {
  test("deleting a reply lowers replyCount and moves lastReplyAt back to the newest reply left", async () => {
    const id = await team();
    const parent = await send("mem", id, { content: "question" });
    const [r1, r2, r3] = [await reply("mia", id, parent.id, "1"), await reply("adm", id, parent.id, "2"), await reply("mia", id, parent.id, "3")];
    expect(await counters(parent.id)).toEqual({ replyCount: 3, lastReplyAt: r3.createdAt });

    expect((await as("mia").delete(`/api/messages/${r3.id}`)).status).toBe(204);
    expect(await counters(parent.id)).toEqual({ replyCount: 2, lastReplyAt: r2.createdAt });
    // Again: nothing more to take away.
    expect((await as("mia").delete(`/api/messages/${r3.id}`)).status).toBe(204);
    expect(await counters(parent.id)).toEqual({ replyCount: 2, lastReplyAt: r2.createdAt });
    // An older reply: the newest stays.
    expect((await as("own").delete(`/api/messages/${r1.id}`)).status).toBe(204);
    expect(await counters(parent.id)).toEqual({ replyCount: 1, lastReplyAt: r2.createdAt });
    expect((await as("adm").delete(`/api/messages/${r2.id}`)).status).toBe(204);
    expect(await counters(parent.id)).toEqual({ replyCount: 0, lastReplyAt: null });
    // Deleted replies stay in the thread as tombstones, in their place.
    expect((await page(`/api/messages/${parent.id}/replies`)).data.map((m) => [m.id, m.isDeleted])).toEqual([
      [r1.id, true],
      [r2.id, true],
      [r3.id, true],
    ]);
  });

  test("deleting a parent leaves its counters; a reply to it is deleted and counted out as usual", async () => {
    const id = await team();
    const parent = await send("mem", id, { content: "question" });
    const r1 = await reply("mia", id, parent.id, "1");
    const r2 = await reply("mia", id, parent.id, "2");
    expect((await as("mem").delete(`/api/messages/${parent.id}`)).status).toBe(204);
    expect(await counters(parent.id)).toEqual({ replyCount: 2, lastReplyAt: r2.createdAt });
    expect((await as("mia").delete(`/api/messages/${r2.id}`)).status).toBe(204);
    expect(await counters(parent.id)).toEqual({ replyCount: 1, lastReplyAt: r1.createdAt });
  });

  test("editing a parent or a reply never changes the counters", async () => {
    const id = await team();
    const parent = await send("mem", id, { content: "question" });
    const answer = await reply("mia", id, parent.id);
    const editedParent = await as("mem").patch(`/api/messages/${parent.id}`, { content: "question, edited" });
    expect(editedParent.status).toBe(200);
    expect(editedParent.body).toMatchObject({ isEdited: true, replyCount: 1, lastReplyAt: answer.createdAt, parentId: null });
    const editedReply = await as("mia").patch(`/api/messages/${answer.id}`, { content: "reply, edited" });
    expect(editedReply.body).toMatchObject({ isEdited: true, replyCount: 0, lastReplyAt: null, parentId: parent.id });
    expect(await counters(parent.id)).toEqual({ replyCount: 1, lastReplyAt: answer.createdAt });
  });
});

describe("GET /api/conversations/:id/messages", () => {
  test("lists top-level messages only, unless includeReplies=true", async () => {
    const id = await team();
    const a = await send("mem", id, { content: "a" });
    await reply("mia", id, a.id, "a.1");
    const b = await send("mem", id, { content: "b" });
    await reply("mia", id, a.id, "a.2");
    await reply("own", id, b.id, "b.1");
    const c = await send("mem", id, { content: "c" });

    const top = await page(`/api/conversations/${id}/messages`);
    expect(top).toEqual({ data: [await read(a.id), await read(b.id), c], hasMore: false, nextCursor: null });
    expect(contents((await page(`/api/conversations/${id}/messages?includeReplies=false`)).data)).toEqual(["a", "b", "c"]);
    expect(contents((await page(`/api/conversations/${id}/messages?includeReplies=true`)).data)).toEqual(["a", "a.1", "b", "a.2", "b.1", "c"]);
    expect(top.data.map((m) => m.replyCount)).toEqual([2, 1, 0]);
  });

  test("includeReplies must be true or false", async () => {
    const id = await team();
    for (const value of ["yes", "1", "", "TRUE!"]) {
      expectError(await as("own").get(`/api/conversations/${id}/messages?includeReplies=${value}`), 400, "VALIDATION_ERROR");
    }
  });

  test("pages back and forth through top-level messages past long threads, and through everything with includeReplies", async () => {
    const id = await team();
    const tops: any[] = [];
    for (let i = 0; i < 5; i++) {
      tops.push(await send("mem", id, { content: `t${i}` }));
      for (let j = 0; j < 3; j++) await reply("mia", id, tops[i].id, `t${i}.${j}`);
    }
    // Top level: newest two, then older from the cursor, then newer from the oldest.
    const newest = await page(`/api/conversations/${id}/messages?limit=2`);
    expect(contents(newest.data)).toEqual(["t3", "t4"]);
    expect(newest).toMatchObject({ hasMore: true, nextCursor: tops[3].id });
    const older = await page(`/api/conversations/${id}/messages?limit=2&before=${newest.nextCursor}`);
    expect(contents(older.data)).toEqual(["t1", "t2"]);
    const oldest = await page(`/api/conversations/${id}/messages?limit=2&before=${older.nextCursor}`);
    expect(oldest).toMatchObject({ hasMore: false, nextCursor: null });
    expect(contents(oldest.data)).toEqual(["t0"]);
    const forward = await page(`/api/conversations/${id}/messages?limit=3&after=${tops[0].id}`);
    expect(contents(forward.data)).toEqual(["t1", "t2", "t3"]);
    expect(forward).toMatchObject({ hasMore: true, nextCursor: tops[3].id });
    // A reply as the cursor of the top-level list: its seq is the bound.
    const midReply = (await page(`/api/messages/${tops[2].id}/replies`)).data[1];
    expect(contents((await page(`/api/conversations/${id}/messages?before=${midReply.id}`)).data)).toEqual(["t0", "t1", "t2"]);

    // Everything: 20 messages in seq order, paged by 6.
    const all: any[] = [];
    let cursor: string | null = null;
    do {
      const p = await page(`/api/conversations/${id}/messages?includeReplies=true&limit=6${cursor ? `&before=${cursor}` : ""}`);
      all.unshift(...p.data);
      cursor = p.nextCursor;
    } while (cursor);
    expect(all.map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const after = await page(`/api/conversations/${id}/messages?includeReplies=true&limit=4&after=${tops[1].id}`);
    expect(contents(after.data)).toEqual(["t1.0", "t1.1", "t1.2", "t2"]);
  });
});

describe("GET /api/messages/:id/replies", () => {
  test("a thread's replies in ascending seq, paged with limit, before and after", async () => {
    const id = await team();
    const parent = await send("mem", id, { content: "question" });
    const other = await send("mem", id, { content: "other" });
    const replies: any[] = [];
    for (let i = 0; i < 7; i++) {
      replies.push(await reply(i % 2 ? "mia" : "adm", id, parent.id, `r${i}`));
      await reply("own", id, other.id, `x${i}`);
    }

    expect(await page(`/api/messages/${parent.id}/replies`, "mia")).toEqual({ data: replies, hasMore: false, nextCursor: null });
    const newest = await page(`/api/messages/${parent.id}/replies?limit=3`);
    expect(newest).toEqual({ data: replies.slice(4), hasMore: true, nextCursor: replies[4].id });
    const older = await page(`/api/messages/${parent.id}/replies?limit=3&before=${newest.nextCursor}`);
    expect(older).toEqual({ data: replies.slice(1, 4), hasMore: true, nextCursor: replies[1].id });
    expect(await page(`/api/messages/${parent.id}/replies?limit=3&before=${older.nextCursor}`)).toEqual({ data: replies.slice(0, 1), hasMore: false, nextCursor: null });
    expect(await page(`/api/messages/${parent.id}/replies?limit=2&after=${replies[2].id}`)).toEqual({ data: replies.slice(3, 5), hasMore: true, nextCursor: replies[4].id });
    expect(await page(`/api/messages/${parent.id}/replies?after=${replies[6].id}`)).toEqual({ data: [], hasMore: false, nextCursor: null });
    // A thread without replies, and a reply (which has no thread of its own): empty.
    const quiet = await send("mem", id, { content: "quiet" });
    expect(await page(`/api/messages/${quiet.id}/replies`)).toEqual({ data: [], hasMore: false, nextCursor: null });
    expect(await page(`/api/messages/${replies[0].id}/replies`)).toEqual({ data: [], hasMore: false, nextCursor: null });
  });

  test("validates like the messages list: limit, ids, cursors of the thread only, one cursor at a time", async () => {
    const id = await team();
    const parent = await send("mem", id, { content: "question" });
    const r = await reply("mia", id, parent.id);
    const other = await send("mem", id, { content: "not in the thread" });
    const path = `/api/messages/${parent.id}/replies`;
    for (const query of ["limit=0", "limit=101", "limit=abc", "before=nope", "after=1"]) {
      expectError(await as("own").get(`${path}?${query}`), 400, "VALIDATION_ERROR");
    }
    expectError(await as("own").get(`${path}?before=${r.id}&after=${r.id}`), 400, "VALIDATION_ERROR");
    expectError(await as("own").get(`${path}?before=${other.id}`), 404, "NOT_FOUND");
    expectError(await as("own").get(`${path}?after=${UNKNOWN_ID}`), 404, "NOT_FOUND");
    expectError(await as("own").get("/api/messages/not-a-uuid/replies"), 400, "VALIDATION_ERROR");
    expectError(await as("own").get(`/api/messages/${UNKNOWN_ID}/replies`), 404, "NOT_FOUND");
    expect((await page(`${path}?limit=100`)).data).toEqual([r]);
  });

  test("outsiders and removed participants get 404; deleted users 401 USER_NOT_FOUND", async () => {
    const id = await team();
    const parent = await send("mem", id, { content: "question" });
    await reply("mia", id, parent.id);
    const path = `/api/messages/${parent.id}/replies`;
    expectError(await as("out").get(path), 404, "NOT_FOUND");
    expect((await as("own").delete(`/api/conversations/${id}/participants/mia`)).status).toBe(204);
    expectError(await as("mia").get(path), 404, "NOT_FOUND");
    expectError(await as("mia").post(`/api/conversations/${id}/messages`, { content: "x", parentId: parent.id }), 404, "NOT_FOUND");

    const gone = `gone-${Date.now().toString(36)}`;
    await svc.syncUsers(gone);
    const goneClient = await svc.as(gone);
    expect((await as("own").post(`/api/conversations/${id}/participants`, { userIds: [gone] })).status).toBe(200);
    expect((await goneClient.get(path)).status).toBe(200);
    expect((await svc.internal("DELETE", `/api/users/${gone}`)).status).toBe(204);
    expectError(await goneClient.get(path), 401, "USER_NOT_FOUND");
  });
});

describe("webhooks", () => {
  test("a reply's message.created carries its parentId; its deletion is a message.deleted; threads add no type", async () => {
    const id = await team();
    const parent = await send("mem", id, { content: "question" });
    const answer = await reply("mia", id, parent.id, "answer");
    expect((await as("mia").delete(`/api/messages/${answer.id}`)).status).toBe(204);
    const about = (messageId: string) => receiver.accepted().filter((d) => (d.payload.data.id ?? d.payload.data.messageId) === messageId);
    await eventually(() => about(answer.id).length === 2, 10_000, "the reply's webhooks");
    expect(about(answer.id).map((d) => d.payload.type).sort()).toEqual(["message.created", "message.deleted"]);
    const created = about(answer.id).find((d) => d.payload.type === "message.created");
    const deleted = about(answer.id).find((d) => d.payload.type === "message.deleted");
    expect(created!.payload).toMatchObject({ type: "message.created", data: answer });
    expect(created!.payload.data.parentId).toBe(parent.id);
    expect(deleted!.payload).toMatchObject({ type: "message.deleted", data: { messageId: answer.id, conversationId: id, deletedBy: "mia" } });
    await eventually(() => about(parent.id).length === 1, 10_000, "the parent's message.created");
    expect(about(parent.id).map((d) => d.payload.type)).toEqual(["message.created"]);
    expect(receiver.accepted().filter((d) => d.payload.type.startsWith("thread"))).toEqual([]);
  });
});
