import { describe, expect, test } from "bun:test";
import { insertHistory } from "../helpers/history";
import { group, makeUsers } from "../helpers/realtime";
import { INTERNAL_SECRET, MODE, serviceForTests } from "../helpers/service";

/** GET /api/users/:id/export: everything of a user, one JSON document, streamed. */
const svc = serviceForTests();

const exportOf = async (userId: string) => {
  const res = await fetch(`${svc.url}/api/users/${userId}/export`, { headers: { "x-internal-secret": INTERNAL_SECRET } });
  return { status: res.status, type: res.headers.get("content-type"), body: (await res.json()) as any };
};

describe("export", () => {
  test("the user, their conversations, messages, reactions and reads; nothing of anyone else", async () => {
    const [ann, bob] = (await makeUsers(svc, "ann", "bob")) as [string, string];
    const conversationId = await group(svc, ann, [bob], "ours");
    const [a, b] = [await svc.as(ann), await svc.as(bob)];
    const send = async (who: typeof a, content: string) => (await who.post(`/api/conversations/${conversationId}/messages`, { content })).body;
    const first = await send(a, "hello");
    const fromBob = await send(b, "hi ann");
    const gone = await send(a, "oops");
    await a.delete(`/api/messages/${gone.id}`);
    await a.post(`/api/messages/${fromBob.id}/reactions`, { emoji: "👍" });
    await b.post(`/api/messages/${first.id}/reactions`, { emoji: "🎉" });
    await a.put(`/api/messages/${fromBob.id}/read`);

    const res = await exportOf(ann);
    expect(res.status).toBe(200);
    expect(res.type).toStartWith("application/json");
    const body = res.body;
    expect(Object.keys(body)).toEqual(["user", "conversations", "messages", "reactions", "reads"]);
    expect(body.user).toEqual((await svc.internal("GET", `/api/users/${ann}`)).body);
    expect(body.conversations).toEqual([
      {
        id: conversationId,
        type: "group",
        name: "ours",
        metadata: {},
        createdBy: ann,
        createdAt: expect.any(String),
        membership: { role: "owner", joinedAt: expect.any(String), lastReadSeq: 2, muted: false, mutedUntil: null },
      },
    ]);
    // Their messages as the API shows them (reactions of others included), the deleted one a tombstone.
    expect(body.messages).toEqual([(await a.get(`/api/messages/${first.id}`)).body, (await a.get(`/api/messages/${gone.id}`)).body]);
    expect(body.messages[1]).toMatchObject({ isDeleted: true, content: "" });
    expect(body.reactions).toEqual([{ messageId: fromBob.id, conversationId, emoji: "👍", createdAt: expect.any(String) }]);
    expect(body.reads).toEqual([{ conversationId, lastReadSeq: 2, lastReadAt: expect.any(String), marks: [{ seq: 2, readAt: expect.any(String) }] }]);

    // A deleted user is exported too (without memberships: they left); an unknown one is 404; a JWT opens nothing.
    expect((await svc.internal("DELETE", `/api/users/${bob}`)).status).toBe(204);
    const deleted = await exportOf(bob);
    expect(deleted.status).toBe(200);
    expect(deleted.body.messages.map((m: any) => m.id)).toEqual([fromBob.id]);
    expect(deleted.body.conversations).toEqual([]);
    expect((await svc.internal("GET", "/api/users/nobody-here/export")).body).toMatchObject({ error: { code: "NOT_FOUND" } });
    expect((await a.get(`/api/users/${ann}/export`)).status).toBe(401);
  });

  test("100,000 messages: valid JSON, every message, streamed without holding the history", async () => {
    const [ann, bob] = (await makeUsers(svc, "ann", "bob")) as [string, string];
    const conversationId = await group(svc, ann, [bob]);
    const inserted = await insertHistory(svc, conversationId, ann, 100_000, { content: "a line of history that takes some room in the export" });

    // First read: the chunks are counted and dropped as they come, while the process's memory is
    // sampled: resident size, and the live JS heap (after a full collection, so that garbage not
    // yet collected does not count). A service that built the document would hold all of it.
    Bun.gc(true);
    const before = process.memoryUsage();
    let peak = before.rss;
    let livePeak = before.heapUsed;
    const sampler = setInterval(() => {
      Bun.gc(true);
      const now = process.memoryUsage();
      peak = Math.max(peak, now.rss);
      livePeak = Math.max(livePeak, now.heapUsed);
    }, 200);
    const started = performance.now();
    const res = await fetch(`${svc.url}/api/users/${ann}/export`, { headers: { "x-internal-secret": INTERNAL_SECRET } });
    let bytes = 0;
    let chunks = 0;
    for await (const chunk of res.body!) {
      bytes += chunk.byteLength;
      chunks++;
    }
    clearInterval(sampler);
    const seconds = (performance.now() - started) / 1000;
    const mib = (n: number) => Math.round(n / 2 ** 20);
    console.log(
      `export of 100,000 messages (${MODE}): ${mib(bytes)} MiB in ${chunks} chunks, ${seconds.toFixed(1)} s; ` +
        `process RSS ${mib(before.rss)} MiB before, peak ${mib(peak)} MiB; live JS heap ${mib(before.heapUsed)} MiB before, peak ${mib(livePeak)} MiB`,
    );
    // Many chunks (a page each), not one body built in memory.
    expect(chunks).toBeGreaterThanOrEqual(100);
    // The document is more than 40 MiB; what the process holds at any time grows by a fraction of it.
    expect(bytes).toBeGreaterThan(40 * 2 ** 20);
    expect(livePeak - before.heapUsed).toBeLessThan(bytes / 4);

    // Second read: the document parses, with every message once, in id order.
    const { status, body } = await exportOf(ann);
    expect(status).toBe(200);
    expect(body.messages).toHaveLength(100_000);
    expect(body.messages[0].id).toBe(inserted.firstId);
    expect(body.messages.at(-1).id).toBe(inserted.lastId);
    expect(new Set(body.messages.map((m: any) => m.seq)).size).toBe(100_000);
    expect(body.conversations).toHaveLength(1);
  }, 180_000);
});
