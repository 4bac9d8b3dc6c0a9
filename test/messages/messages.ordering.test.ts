import { beforeAll, describe, expect, test } from "bun:test";
import { type ApiClient, serviceForTests } from "../helpers/service";
import { connectSocket } from "../helpers/sockets";

/** Seq numbering under concurrency, and idempotent retries with clientMessageId. */
const svc = serviceForTests();
const senders: ApiClient[] = [];
const UNKNOWN_ID = "018f0000-0000-7000-8000-000000000000";

beforeAll(async () => {
  const ids = ["s0", "s1", "s2", "s3", "s4"];
  await svc.syncUsers(...ids);
  for (const id of ids) senders.push(await svc.as(id));
}, 60_000);

const first = () => senders[0]!;

async function group(): Promise<string> {
  const res = await first().post("/api/conversations", { type: "group", participantIds: ["s1", "s2", "s3", "s4"] });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function seqs(conversationId: string): Promise<number[]> {
  return (await first().get(`/api/conversations/${conversationId}/messages?limit=100`)).body.data.map((m: { seq: number }) => m.seq);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("seq", () => {
  test("50 concurrent sends from five users get seq exactly 1..50", async () => {
    const id = await group();
    const results = await Promise.all(
      range(1, 50).map((i) => senders[i % senders.length]!.post(`/api/conversations/${id}/messages`, { content: `message ${i}` })),
    );
    expect(results.every((r) => r.status === 201)).toBe(true);
    expect(results.map((r) => r.body.seq).sort((a, b) => a - b)).toEqual(range(1, 50));
    const page = (await first().get(`/api/conversations/${id}/messages?limit=100`)).body.data;
    expect(page.map((m: { seq: number }) => m.seq)).toEqual(range(1, 50));
    expect((await first().get(`/api/conversations/${id}`)).body.lastMessage.seq).toBe(50);
  });

  test("sends that fail, before or inside the transaction, leave no gap in the seqs", async () => {
    const id = await group();
    const bodies = range(1, 50).map((i) => {
      if (i % 7 === 0) return { content: "" }; // refused before any write
      if (i % 5 === 0) return { content: `reply ${i}`, replyTo: UNKNOWN_ID }; // refused after taking a seq
      return { content: `message ${i}` };
    });
    const results = await Promise.all(bodies.map((body, i) => senders[i % senders.length]!.post(`/api/conversations/${id}/messages`, body)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 400)).toHaveLength(16);
    const succeeded = results.filter((r) => r.status === 201);
    expect(succeeded).toHaveLength(34);
    expect(succeeded.map((r) => r.body.seq).sort((a, b) => a - b)).toEqual(range(1, 34));
    expect(await seqs(id)).toEqual(range(1, 34));
    // The next message continues the sequence.
    expect((await first().post(`/api/conversations/${id}/messages`, { content: "next" })).body.seq).toBe(35);
  });

  test("sends committed together stay gapless, and one refused send does not sink the others", async () => {
    // Many conversations at once, so that sends share transactions, with outsiders mixed in.
    const ids = await Promise.all(range(1, 8).map(() => group()));
    const outsider = await svc.as("s-outsider");
    await svc.syncUser("s-outsider");
    const sends = range(1, 80).map((i) => {
      const conversation = ids[i % ids.length]!;
      return i % 9 === 0
        ? outsider.post(`/api/conversations/${conversation}/messages`, { content: `intruder ${i}` })
        : first().post(`/api/conversations/${conversation}/messages`, { content: `${i}` });
    });
    const results = await Promise.all(sends);
    expect(results.filter((r) => r.status === 404)).toHaveLength(8);
    expect(results.filter((r) => r.status === 201)).toHaveLength(72);
    for (const id of ids) {
      const page = (await first().get(`/api/conversations/${id}/messages?limit=100`)).body.data as { seq: number; content: string }[];
      expect(page.map((m) => m.seq)).toEqual(range(1, page.length));
    }
  });

  test("one socket's sends, emitted without waiting, get seqs in the order they were emitted", async () => {
    // 25 stays under the per-user send budget (RATE_LIMIT_MESSAGES, 30 per 10 s by default).
    const id = await group();
    const { socket } = await connectSocket(svc.url, first().token);
    const acks = await Promise.all(range(1, 25).map((i) => socket.emitWithAck("message:send", { conversationId: id, content: `${i}` })));
    expect(acks.every((a) => a.ok)).toBe(true);
    const bySeq = acks.map((a) => (a.ok ? a.data : undefined)!).sort((a, b) => a.seq - b.seq);
    expect(bySeq.map((m) => Number(m.content))).toEqual(range(1, 25));
    socket.close();
  });

  test("each conversation counts on its own", async () => {
    const [a, b] = [await group(), await group()];
    await Promise.all(range(1, 10).map((i) => first().post(`/api/conversations/${i % 2 ? a : b}/messages`, { content: `${i}` })));
    expect(await seqs(a)).toEqual(range(1, 5));
    expect(await seqs(b)).toEqual(range(1, 5));
  });
});

describe("clientMessageId", () => {
  test("a retry returns the stored message with 200 and stores nothing new", async () => {
    const id = await group();
    const original = await first().post(`/api/conversations/${id}/messages`, { content: "hello", clientMessageId: "c-1" });
    expect(original.status).toBe(201);
    expect(original.body.clientMessageId).toBe("c-1");
    const retry = await first().post(`/api/conversations/${id}/messages`, { content: "hello", clientMessageId: "c-1" });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(original.body);
    // A retry is recognised by its id alone: a different body does not overwrite the message.
    const changed = await first().post(`/api/conversations/${id}/messages`, { content: "hello, edited", clientMessageId: "c-1" });
    expect(changed.status).toBe(200);
    expect(changed.body).toEqual(original.body);
    expect(await seqs(id)).toEqual([1]);
    expect((await first().post(`/api/conversations/${id}/messages`, { content: "next" })).body.seq).toBe(2);
  });

  test("the key is per sender and per conversation", async () => {
    const [a, b] = [await group(), await group()];
    const mine = await first().post(`/api/conversations/${a}/messages`, { content: "x", clientMessageId: "same" });
    const theirs = await senders[1]!.post(`/api/conversations/${a}/messages`, { content: "x", clientMessageId: "same" });
    const elsewhere = await first().post(`/api/conversations/${b}/messages`, { content: "x", clientMessageId: "same" });
    expect([mine.status, theirs.status, elsewhere.status]).toEqual([201, 201, 201]);
    expect(new Set([mine.body.id, theirs.body.id, elsewhere.body.id]).size).toBe(3);
  });

  test("concurrent duplicates race to one message: one 201, the rest 200 with it, and no seq lost", async () => {
    const id = await group();
    const results = await Promise.all(range(1, 12).map(() => first().post(`/api/conversations/${id}/messages`, { content: "racing", clientMessageId: "race-1" })));
    expect(results.map((r) => r.status).sort((a, b) => a - b)).toEqual([...Array(11).fill(200), 201]);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(results.every((r) => r.body.seq === 1)).toBe(true);
    expect(await seqs(id)).toEqual([1]);
    expect((await first().post(`/api/conversations/${id}/messages`, { content: "after the race" })).body.seq).toBe(2);
  });

  test("duplicates racing among other senders: every key stored once, seqs still gapless", async () => {
    const id = await group();
    // Rounds of ten keys: s0 sends rounds one and three, s1 rounds two and four.
    const sends = range(0, 39).map((i) => {
      const sender = senders[Math.floor(i / 10) % 2]!;
      return sender.post(`/api/conversations/${id}/messages`, { content: `m${i % 10}`, clientMessageId: `key-${i % 10}` });
    });
    const results = await Promise.all(sends);
    expect(results.every((r) => r.status === 201 || r.status === 200)).toBe(true);
    const stored = (await first().get(`/api/conversations/${id}/messages?limit=100`)).body.data;
    // Ten keys, each used twice by each of two senders: twenty messages.
    expect(stored).toHaveLength(20);
    expect(stored.map((m: { seq: number }) => m.seq)).toEqual(range(1, 20));
    expect(new Set(stored.map((m: { senderId: string; clientMessageId: string }) => `${m.senderId}/${m.clientMessageId}`)).size).toBe(20);
  });

  test("a retry after the message was deleted returns the tombstone, and after leaving it is 404", async () => {
    const id = await group();
    const sent = (await senders[1]!.post(`/api/conversations/${id}/messages`, { content: "oops", clientMessageId: "c-del" })).body;
    await senders[1]!.delete(`/api/messages/${sent.id}`);
    const retry = await senders[1]!.post(`/api/conversations/${id}/messages`, { content: "oops", clientMessageId: "c-del" });
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ id: sent.id, isDeleted: true, content: "" });

    await senders[1]!.delete(`/api/conversations/${id}/participants/s1`);
    const gone = await senders[1]!.post(`/api/conversations/${id}/messages`, { content: "oops", clientMessageId: "c-del" });
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe("NOT_FOUND");
  });
});
