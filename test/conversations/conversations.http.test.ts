import { beforeAll, describe, expect, test } from "bun:test";
import { type ApiClient, serviceForTests } from "../helpers/service";

const svc = serviceForTests();
let ann: ApiClient, bob: ApiClient, cat: ApiClient, dan: ApiClient;

beforeAll(async () => {
  await svc.syncUsers("ann", "bob", "cat", "dan");
  [ann, bob, cat, dan] = [await svc.as("ann"), await svc.as("bob"), await svc.as("cat"), await svc.as("dan")];
}, 60_000);

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const UNKNOWN_ID = "018f0000-0000-7000-8000-000000000000";

async function createGroup(owner: ApiClient, others: string[], extra: Record<string, unknown> = {}) {
  const res = await owner.post("/api/conversations", { type: "group", participantIds: others, name: "Team", ...extra });
  expect(res.status).toBe(201);
  return res.body;
}

const roles = (conversation: { participants: { userId: string; role: string }[] }) =>
  Object.fromEntries(conversation.participants.map((p) => [p.userId, p.role]));

describe("creating conversations", () => {
  test("a group: 201, the creator is its owner, everyone else a member", async () => {
    const res = await ann.post("/api/conversations", { type: "group", participantIds: ["bob", "cat"], name: "Launch", metadata: { topic: "q3" } });
    expect(res.status).toBe(201);
    const conversation = res.body;
    expect(conversation).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      type: "group",
      name: "Launch",
      metadata: { topic: "q3" },
      createdBy: "ann",
      createdAt: expect.stringMatching(ISO_MS),
      updatedAt: expect.stringMatching(ISO_MS),
      lastMessage: null,
      lastMessageAt: null,
      participants: expect.any(Array),
      unreadCount: 0,
      unreadMentionCount: 0,
      slowModeSeconds: 0,
      muted: false,
      mutedUntil: null,
    });
    expect(roles(conversation)).toEqual({ ann: "owner", bob: "member", cat: "member" });
    for (const p of conversation.participants) expect(p).toEqual({ userId: p.userId, role: p.role, joinedAt: expect.stringMatching(ISO_MS), lastReadSeq: 0 });
    // Every participant sees it; nobody else does.
    expect((await bob.get(`/api/conversations/${conversation.id}`)).body.id).toBe(conversation.id);
    expect((await dan.get(`/api/conversations/${conversation.id}`)).status).toBe(404);
  });

  test("listing the creator among the participants, or someone twice, changes nothing", async () => {
    const conversation = await createGroup(ann, ["ann", "bob", "bob"]);
    expect(roles(conversation)).toEqual({ ann: "owner", bob: "member" });
  });

  test("a direct conversation is unique per pair: asking again, from either side, returns it with 200", async () => {
    const first = await ann.post("/api/conversations", { type: "direct", participantIds: ["dan"] });
    expect(first.status).toBe(201);
    expect(first.body.type).toBe("direct");
    expect(first.body.name).toBeNull();
    expect(roles(first.body)).toEqual({ ann: "member", dan: "member" });

    const again = await ann.post("/api/conversations", { type: "direct", participantIds: ["dan"] });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const otherSide = await dan.post("/api/conversations", { type: "direct", participantIds: ["ann", "dan"] });
    expect(otherSide.status).toBe(200);
    expect(otherSide.body.id).toBe(first.body.id);
  });

  test("both sides opening their direct conversation at the same time get the same one", async () => {
    await svc.syncUsers("eve", "fay");
    const [eve, fay] = [await svc.as("eve"), await svc.as("fay")];
    const results = await Promise.all([
      eve.post("/api/conversations", { type: "direct", participantIds: ["fay"] }),
      fay.post("/api/conversations", { type: "direct", participantIds: ["eve"] }),
      eve.post("/api/conversations", { type: "direct", participantIds: ["fay"] }),
    ]);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 201]);
    expect((await eve.get("/api/conversations")).body.data).toHaveLength(1);
  });

  test("a direct conversation needs exactly one other participant", async () => {
    for (const participantIds of [["ann"], ["bob", "cat"]]) {
      const res = await ann.post("/api/conversations", { type: "direct", participantIds });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_ERROR");
    }
  });

  test("an unknown or deleted participant is 404 naming them, and nothing is created", async () => {
    await svc.syncUser("gone");
    await svc.internal("DELETE", "/api/users/gone");
    const before = (await ann.get("/api/conversations?limit=100")).body.data.length;
    const res = await ann.post("/api/conversations", { type: "group", participantIds: ["bob", "nobody", "gone"] });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("NOT_FOUND");
    expect(res.body.error.details).toEqual({ userIds: ["nobody", "gone"] });
    expect((await ann.post("/api/conversations", { type: "direct", participantIds: ["gone"] })).status).toBe(404);
    expect((await ann.get("/api/conversations?limit=100")).body.data.length).toBe(before);
  });

  test("invalid bodies are 400 VALIDATION_ERROR and create nothing", async () => {
    const before = (await ann.get("/api/conversations?limit=100")).body.data.length;
    const bodies = [
      {},
      { type: "channel", participantIds: ["bob"] },
      { type: "group" },
      { type: "group", participantIds: [] },
      { type: "group", participantIds: "bob" },
      { type: "group", participantIds: ["has space"] },
      { type: "group", participantIds: ["x".repeat(129)] },
      { type: "group", participantIds: ["bob"], name: "" },
      { type: "group", participantIds: ["bob"], name: "n".repeat(201) },
      { type: "group", participantIds: ["bob"], metadata: "text" },
      { type: "group", participantIds: ["bob"], metadata: { blob: "x".repeat(5000) } },
      { type: "group", participantIds: ["bob"], name: "nul\u0000byte" },
      { type: "group", participantIds: ["bob"], metadata: { key: "nul\u0000byte" } },
      { type: "group", participantIds: ["bob"], metadata: { key: "lone \ud800 surrogate" } },
    ];
    for (const body of bodies) {
      const res = await ann.post("/api/conversations", body);
      expect({ body, status: res.status, code: res.body?.error?.code }).toEqual({ body, status: 400, code: "VALIDATION_ERROR" });
    }
    expect((await ann.get("/api/conversations?limit=100")).body.data.length).toBe(before);
  });
});

describe("reading conversations", () => {
  test("outsiders, unknown ids and malformed ids", async () => {
    const conversation = await createGroup(ann, ["bob"]);
    expect((await cat.get(`/api/conversations/${conversation.id}`)).body.error.code).toBe("NOT_FOUND");
    const unknown = await ann.get(`/api/conversations/${UNKNOWN_ID}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("NOT_FOUND");
    const malformed = await ann.get("/api/conversations/12345");
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("VALIDATION_ERROR");
    // An outsider cannot tell a conversation they are not in from one that does not exist.
    expect((await cat.get(`/api/conversations/${conversation.id}`)).body).toEqual(unknown.body);
  });

  test("the conversation shows its last message and the caller's own unread count", async () => {
    const conversation = await createGroup(ann, ["bob"]);
    await ann.post(`/api/conversations/${conversation.id}/messages`, { content: "one" });
    const last = (await ann.post(`/api/conversations/${conversation.id}/messages`, { content: "two" })).body;
    const seenByBob = (await bob.get(`/api/conversations/${conversation.id}`)).body;
    expect(seenByBob.lastMessage).toEqual(last);
    expect(seenByBob.lastMessageAt).toBe(last.createdAt);
    expect(seenByBob.unreadCount).toBe(2);
    expect((await ann.get(`/api/conversations/${conversation.id}`)).body.unreadCount).toBe(0);
  });
});

describe("listing conversations", () => {
  let lister: ApiClient;
  const ids: string[] = [];
  beforeAll(async () => {
    await svc.syncUsers("lister", "peer");
    lister = await svc.as("lister");
    for (const name of ["first", "second", "third", "fourth"]) {
      ids.push((await createGroup(lister, ["peer"], { name })).id);
    }
  }, 60_000);

  test("most recent activity first: creation, then each new message moves a conversation up", async () => {
    const order = async () => (await lister.get("/api/conversations")).body.data.map((c: { name: string }) => c.name);
    expect(await order()).toEqual(["fourth", "third", "second", "first"]);
    await lister.post(`/api/conversations/${ids[1]}/messages`, { content: "bump" });
    expect(await order()).toEqual(["second", "fourth", "third", "first"]);
    const peer = await svc.as("peer");
    await peer.post(`/api/conversations/${ids[0]}/messages`, { content: "bump" });
    expect(await order()).toEqual(["first", "second", "fourth", "third"]);
  });

  test("the cursor walks every conversation once, hasMore turning false exactly at the end", async () => {
    const all = (await lister.get("/api/conversations?limit=100")).body;
    expect(all).toMatchObject({ hasMore: false, nextCursor: null });
    expect(all.data).toHaveLength(4);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { body: any } = await lister.get(`/api/conversations?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      pages++;
      seen.push(...page.body.data.map((c: { id: string }) => c.id));
      expect(page.body.hasMore).toBe(pages < 4);
      expect(page.body.nextCursor === null).toBe(!page.body.hasMore);
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.data.map((c: { id: string }) => c.id));

    const exact = (await lister.get("/api/conversations?limit=4")).body;
    expect(exact).toMatchObject({ hasMore: false, nextCursor: null });
    const twoPages = (await lister.get("/api/conversations?limit=2")).body;
    expect(twoPages.hasMore).toBe(true);
    const rest = (await lister.get(`/api/conversations?limit=2&cursor=${encodeURIComponent(twoPages.nextCursor)}`)).body;
    expect(rest).toMatchObject({ hasMore: false, nextCursor: null });
    expect([...twoPages.data, ...rest.data].map((c: { id: string }) => c.id)).toEqual(all.data.map((c: { id: string }) => c.id));
  });

  test("a user with no conversations gets an empty list; the default page is 20", async () => {
    await svc.syncUsers("loner");
    const loner = await svc.as("loner");
    expect((await loner.get("/api/conversations")).body).toEqual({ data: [], hasMore: false, nextCursor: null });
  });

  test("bad limits and cursors are 400 VALIDATION_ERROR", async () => {
    const bad = ["limit=0", "limit=101", "limit=-1", "limit=ten", "cursor=garbage", `cursor=${Buffer.from('["not a date","x"]').toString("base64url")}`, `cursor=${"x".repeat(600)}`];
    for (const query of bad) {
      const res = await lister.get(`/api/conversations?${query}`);
      expect({ query, status: res.status, code: res.body?.error?.code }).toEqual({ query, status: 400, code: "VALIDATION_ERROR" });
    }
  });

  test("a cursor must be one the API could have returned: times JavaScript accepts but Postgres does not are 400", async () => {
    const cursor = (at: string) => Buffer.from(JSON.stringify([at, "01a226f9-555f-73a1-b6fe-445b95cc8e00"])).toString("base64url");
    const outOfRange = ["+275760-09-13T00:00:00.000Z", "-271821-04-20T00:00:00.000Z", "0000-01-01T00:00:00.000Z", "2024-13-01T00:00:00.000Z", "2024-01-01T00:00:00Z", "2024-01-01"];
    for (const at of outOfRange) {
      const res = await lister.get(`/api/conversations?cursor=${cursor(at)}`);
      expect({ at, status: res.status, code: res.body?.error?.code }).toEqual({ at, status: 400, code: "VALIDATION_ERROR" });
    }
    const far = await lister.get(`/api/conversations?cursor=${cursor("9999-12-31T23:59:59.999Z")}`);
    expect(far.status).toBe(200);
    expect(far.body.data.length).toBeGreaterThan(0);
  });
});

describe("deleting conversations", () => {
  test("the owner deletes a group: 204, and it is gone for everyone with its messages", async () => {
    const conversation = await createGroup(ann, ["bob"]);
    const message = (await bob.post(`/api/conversations/${conversation.id}/messages`, { content: "hello" })).body;
    const res = await ann.delete(`/api/conversations/${conversation.id}`);
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
    for (const client of [ann, bob]) {
      expect((await client.get(`/api/conversations/${conversation.id}`)).status).toBe(404);
      expect((await client.get(`/api/messages/${message.id}`)).status).toBe(404);
      expect((await client.get("/api/conversations?limit=100")).body.data.map((c: { id: string }) => c.id)).not.toContain(conversation.id);
    }
    expect((await ann.delete(`/api/conversations/${conversation.id}`)).status).toBe(404);
  });

  test("an admin may delete a group, a member may not (403), an outsider gets 404", async () => {
    const conversation = await createGroup(ann, ["bob", "cat"]);
    await ann.patch(`/api/conversations/${conversation.id}/participants/bob`, { role: "admin" });
    const member = await cat.delete(`/api/conversations/${conversation.id}`);
    expect(member.status).toBe(403);
    expect(member.body.error.code).toBe("FORBIDDEN");
    expect((await dan.delete(`/api/conversations/${conversation.id}`)).status).toBe(404);
    expect((await cat.get(`/api/conversations/${conversation.id}`)).status).toBe(200);
    expect((await bob.delete(`/api/conversations/${conversation.id}`)).status).toBe(204);
    expect((await ann.get(`/api/conversations/${conversation.id}`)).status).toBe(404);
  });

  test("either side deletes a direct conversation; opening it again makes a new, empty one", async () => {
    const first = (await bob.post("/api/conversations", { type: "direct", participantIds: ["cat"] })).body;
    await bob.post(`/api/conversations/${first.id}/messages`, { content: "hi" });
    expect((await cat.delete(`/api/conversations/${first.id}`)).status).toBe(204);
    const second = await bob.post("/api/conversations", { type: "direct", participantIds: ["cat"] });
    expect(second.status).toBe(201);
    expect(second.body.id).not.toBe(first.id);
    expect(second.body.lastMessage).toBeNull();
  });

  test("malformed and unknown ids", async () => {
    expect((await ann.delete("/api/conversations/nope")).status).toBe(400);
    expect((await ann.delete(`/api/conversations/${UNKNOWN_ID}`)).status).toBe(404);
  });
});
