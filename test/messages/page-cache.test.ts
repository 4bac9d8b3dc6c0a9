import { beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { conversationPage } from "../../src/messages/page";
import { PageCache } from "../../src/messages/page-cache";
import { rowsOf } from "../helpers/history";
import { type ApiClient, serviceForTests } from "../helpers/service";

/**
 * The newest page of a conversation is kept after it is built and answered again while the rows
 * it shows are unchanged. Every change to what it shows must be seen by the next read, whoever
 * reads, and the caller's checks still come first.
 */
const svc = serviceForTests();
let ann: ApiClient, bob: ApiClient, eve: ApiClient;
let conversationId: string;

beforeAll(async () => {
  await svc.syncUsers("ann", "bob", "eve", "cat");
  [ann, bob, eve] = [await svc.as("ann"), await svc.as("bob"), await svc.as("eve")];
  conversationId = (await ann.post("/api/conversations", { type: "group", participantIds: ["bob", "cat"] })).body.id;
  for (let i = 1; i <= 3; i++) await ann.post(`/api/conversations/${conversationId}/messages`, { content: `m${i}` });
});

const kept = () => svc.app.ctx.pages.answered.kept;

/** The newest page's answer as sent, and parsed. */
async function newest(client: ApiClient, query = "") {
  const res = await fetch(`${svc.url}/api/conversations/${conversationId}/messages${query}`, { headers: { authorization: `Bearer ${client.token}` } });
  const text = await res.text();
  return { status: res.status, text, body: res.ok ? (JSON.parse(text) as { data: Record<string, any>[]; hasMore: boolean; nextCursor: string | null }) : undefined };
}

/** The same page built now by the statement, with nothing kept. */
async function builtNow(query: { limit?: number } = {}) {
  const claims = { sub: "ann" } as Parameters<typeof conversationPage>[3]["claims"];
  const text = await conversationPage(svc.app.ctx.storage, svc.app.ctx.auth, new PageCache(1 << 20), {
    conversationId,
    claims,
    includeReplies: false,
    direction: "older",
    limit: query.limit ?? 50,
  });
  return text;
}

const byContent = (page: { data: Record<string, any>[] }, content: string) => page.data.find((m) => m.content === content);

describe("a kept newest page", () => {
  test("is answered again, byte for byte, to every member while nothing it shows changed", async () => {
    const first = await newest(ann);
    const before = kept();
    const again = await newest(bob);
    expect(again.status).toBe(200);
    expect(again.text).toBe(first.text);
    expect(kept()).toBe(before + 1);
    expect(again.text).toBe(await builtNow());
  });

  test("a different limit is a page of its own", async () => {
    const two = await newest(ann, "?limit=2");
    expect(two.body!.data.map((m) => m.content)).toEqual(["m2", "m3"]);
    expect(two.body!.hasMore).toBe(true);
    expect((await newest(bob, "?limit=2")).text).toBe(two.text);
  });

  // Each change is made after the page was read (and kept), then read again by another member.
  const changes: [string, () => Promise<(page: { data: Record<string, any>[] }) => void>][] = [
    [
      "a new message",
      async () => {
        await bob.post(`/api/conversations/${conversationId}/messages`, { content: "fresh" });
        return (page) => expect(page.data.at(-1)!.content).toBe("fresh");
      },
    ],
    [
      "an edit",
      async () => {
        const id = byContent((await newest(ann)).body!, "m1")!.id;
        expect((await ann.patch(`/api/messages/${id}`, { content: "m1 edited" })).status).toBe(200);
        return (page) => expect(page.data.find((m) => m.id === id)).toMatchObject({ content: "m1 edited", isEdited: true });
      },
    ],
    [
      "a reaction, then its removal",
      async () => {
        const id = byContent((await newest(ann)).body!, "m2")!.id;
        expect((await bob.post(`/api/messages/${id}/reactions`, { emoji: "👍" })).status).toBeLessThan(300);
        expect(byContent((await newest(ann)).body!, "m2")!.reactions).toEqual([{ emoji: "👍", count: 1, userIds: ["bob"] }]);
        expect((await bob.delete(`/api/messages/${id}/reactions/${encodeURIComponent("👍")}`)).status).toBeLessThan(300);
        return (page) => expect(page.data.find((m) => m.id === id)!.reactions).toEqual([]);
      },
    ],
    [
      "a pin",
      async () => {
        const id = byContent((await newest(ann)).body!, "m3")!.id;
        expect((await ann.post(`/api/messages/${id}/pin`)).status).toBeLessThan(300);
        return (page) => expect(page.data.find((m) => m.id === id)).toMatchObject({ pinnedBy: "ann", pinnedAt: expect.any(String) });
      },
    ],
    [
      "a reply in a thread (its parent's counters)",
      async () => {
        const id = byContent((await newest(ann)).body!, "m3")!.id;
        expect((await bob.post(`/api/conversations/${conversationId}/messages`, { content: "in thread", parentId: id })).status).toBe(201);
        return (page) => expect(page.data.find((m) => m.id === id)).toMatchObject({ replyCount: 1, lastReplyAt: expect.any(String) });
      },
    ],
    [
      "a deletion",
      async () => {
        const id = byContent((await newest(ann)).body!, "fresh")!.id;
        expect((await bob.delete(`/api/messages/${id}`)).status).toBeLessThan(300);
        return (page) => expect(page.data.find((m) => m.id === id)).toMatchObject({ isDeleted: true, content: "" });
      },
    ],
    [
      "a change made in SQL, past the service",
      async () => {
        await rowsOf(svc, sql`update messages set metadata = '{"by":"hand"}' where conversation_id = ${conversationId}::uuid and content = 'm2'`);
        return (page) => expect(byContent(page, "m2")!.metadata).toEqual({ by: "hand" });
      },
    ],
    [
      "a message removed for good (as retention does)",
      async () => {
        await rowsOf(svc, sql`delete from messages where conversation_id = ${conversationId}::uuid and content = 'm1 edited'`);
        return (page) => expect(byContent(page, "m1 edited")).toBeUndefined();
      },
    ],
  ];
  for (const [what, change] of changes) {
    test(`is built again after ${what}`, async () => {
      await newest(ann);
      await newest(bob);
      const check = await change();
      const page = await newest(bob);
      expect(page.status).toBe(200);
      check(page.body!);
      expect(page.text).toBe(await builtNow());
    });
  }

  test("lists reactions of one moment in the order GET /api/messages/:id does", async () => {
    const id = (await bob.post(`/api/conversations/${conversationId}/messages`, { content: "same moment" })).body.id;
    // One user's three reactions stored at the same millisecond, inserted out of emoji order.
    await rowsOf(svc, sql`insert into reactions (message_id, emoji, user_id, created_at)
      values (${id}::uuid, '🔥', 'ann', '2026-01-01T00:00:00Z'), (${id}::uuid, ':ok:', 'ann', '2026-01-01T00:00:00Z'), (${id}::uuid, '❤️', 'bob', '2026-01-01T00:00:00Z')`);
    const single = (await ann.get(`/api/messages/${id}`)).body.reactions;
    expect(single.map((r: { emoji: string }) => r.emoji)).toEqual([":ok:", "🔥", "❤️"]);
    for (const reader of [ann, bob]) expect(byContent((await newest(reader)).body!, "same moment")!.reactions).toEqual(single);
  });

  test("still judges every caller: a non-member, a removed member, a suspended user", async () => {
    const page = await newest(ann);
    expect(page.status).toBe(200);
    expect((await newest(eve)).status).toBe(404);

    const cat = await svc.as("cat");
    expect((await newest(cat)).text).toBe(page.text);
    expect((await ann.delete(`/api/conversations/${conversationId}/participants/cat`)).status).toBe(204);
    expect((await newest(cat)).status).toBe(404);

    expect((await svc.internal("POST", `/api/users/bob/suspend`, {})).status).toBe(200);
    expect((await newest(bob)).status).toBe(403);
    expect((await svc.internal("POST", `/api/users/bob/unsuspend`, {})).status).toBe(200);
    expect((await newest(bob)).text).toBe(page.text);
  });

  test("is counted in /metrics", async () => {
    await newest(ann);
    await newest(ann);
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    const kept = Number(text.match(/^chat_message_pages_total\{answer="kept"\} (\d+)/m)?.[1]);
    const built = Number(text.match(/^chat_message_pages_total\{answer="built"\} (\d+)/m)?.[1]);
    expect(kept).toBeGreaterThanOrEqual(1);
    expect(built).toBeGreaterThanOrEqual(1);
    expect(Number(text.match(/^chat_message_page_cache_bytes (\d+)/m)?.[1])).toBeGreaterThan(0);
  });
});

describe("PageCache", () => {
  test("keeps pages up to its size, dropping the least recently answered first", () => {
    const cache = new PageCache(100);
    cache.set("a", "fa", "x".repeat(20)); // 40 bytes
    cache.set("b", "fb", "x".repeat(20));
    expect(cache.take("a", "fa")).toBe("x".repeat(20)); // a is now the most recent
    cache.set("c", "fc", "x".repeat(20)); // 120 bytes: b goes
    expect(cache.fingerprintOf("b")).toBeUndefined();
    expect(cache.fingerprintOf("a")).toBe("fa");
    expect(cache.size).toEqual({ pages: 2, bytes: 80 });
  });

  test("answers an entry only for its own fingerprint, and never keeps a page bigger than itself", () => {
    const cache = new PageCache(100);
    cache.set("a", "fa", "page");
    expect(cache.take("a", "other")).toBeUndefined();
    cache.set("a", "fa2", "page 2");
    expect(cache.take("a", "fa")).toBeUndefined();
    expect(cache.take("a", "fa2")).toBe("page 2");
    cache.set("big", "f", "x".repeat(51));
    expect(cache.fingerprintOf("big")).toBeUndefined();
    expect(cache.size).toEqual({ pages: 1, bytes: 12 });
  });
});
