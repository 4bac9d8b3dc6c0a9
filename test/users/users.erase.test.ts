import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { type App, startApp } from "../../src/app";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/core/log";
import { storageForMode } from "../faults/storage";
import { insertHistory, rowsOf } from "../helpers/history";
import { connectAs, fence, group, makeUsers, ok } from "../helpers/realtime";
import { INTERNAL_SECRET, mintToken, sendRequest, testEnv } from "../helpers/service";
import { connectSocket, eventually, record } from "../helpers/sockets";
import { RAW_SECRET, serviceWithReceiver, startReceiver } from "../webhooks/receiver";

/** DELETE /api/users/:id?erase=true: deleted at once, then erased in durable batches, then one user.erased. */
const { svc, receiver } = serviceWithReceiver(RAW_SECRET, { LIFECYCLE_INTERVAL_MS: "3600000" });

type Db = Pick<Parameters<typeof rowsOf>[0], "app">;
const outboxOf = (db: Db, type: string) =>
  rowsOf<{ data: any }>(db, sql`select payload -> 'data' as data from webhook_events where type = ${type} order by id`).then((rows) => rows.map((r) => r.data));
const erasing = async (db: Db, userId: string) =>
  (await rowsOf<{ phase: string; messages: number }>(db, sql`select phase, messages from user_erasures where user_id = ${userId}`))[0];

describe("erase", () => {
  test("their messages become tombstones, reactions and mentions go, threads and unread counts follow, one user.erased", async () => {
    const [ann, bob, cat] = (await makeUsers(svc, "ann", "bob", "cat")) as [string, string, string];
    const conversationId = await group(svc, bob, [ann, cat]);
    const [a, b, c] = [await svc.as(ann), await svc.as(bob), await svc.as(cat)];
    const send = async (who: typeof a, body: Record<string, unknown>) => (await who.post(`/api/conversations/${conversationId}/messages`, body)).body;
    const parent = await send(b, { content: "thread start" });
    const replies = [
      await send(a, { content: "ann's reply", parentId: parent.id, attachments: [{ url: "https://files.example/ann.png" }], metadata: { secret: "ann" } }),
      await send(a, { content: "ann again", parentId: parent.id }),
      await send(c, { content: "cat's reply", parentId: parent.id }),
    ];
    const top = await send(a, { content: "hi @cat", mentions: [cat] });
    const hey = await send(b, { content: "hey @ann", mentions: [ann] });
    await a.post(`/api/messages/${parent.id}/reactions`, { emoji: "👍" });
    await c.post(`/api/messages/${top.id}/reactions`, { emoji: "🎉" });
    expect((await b.post(`/api/messages/${top.id}/pin`)).status).toBe(200);
    expect((await c.get(`/api/conversations/${conversationId}/unread-count`)).body).toMatchObject({ unreadCount: 5, unreadMentionCount: 1 });
    const bobSocket = await connectAs(svc.wsUrl, svc, bob);
    const deletedEvents = record(bobSocket, "message:deleted");
    const threadEvents = record(bobSocket, "thread:updated");
    const wall = await fence(svc, [{ userId: bob, socket: bobSocket }]);

    const res = await svc.internal("DELETE", `/api/users/${ann}?erase=true`);
    expect(res.status).toBe(202);
    // Deleted at once, as without erase.
    expect((await svc.internal("GET", `/api/users/${ann}`)).status).toBe(404);
    expect((await a.get("/api/conversations")).status).toBe(401);
    await eventually(async () => (await erasing(svc, ann)) === undefined, 20_000, "erase finished");

    const annMessages = [...replies.slice(0, 2), top];
    for (const message of annMessages) {
      const shown = (await b.get(`/api/messages/${message.id}`)).body;
      expect(shown).toMatchObject({ senderId: ann, isDeleted: true, content: "", attachments: [], metadata: {}, mentions: [], reactions: [] });
      expect(shown.deletedAt).not.toBeNull();
    }
    // The thread counts the one reply left; the parent lost Ann's reaction; Bob's message no longer names her.
    const parentNow = (await b.get(`/api/messages/${parent.id}`)).body;
    expect(parentNow).toMatchObject({ replyCount: 1, lastReplyAt: replies[2].createdAt, reactions: [] });
    expect((await b.get(`/api/messages/${hey.id}`)).body).toMatchObject({ content: "hey @ann", mentions: [] });
    // Cat's counts: Ann's messages are now others' tombstones.
    expect((await c.get(`/api/conversations/${conversationId}/unread-count`)).body).toMatchObject({ unreadCount: 2, unreadMentionCount: 0 });
    expect((await c.get("/api/me/unread")).body).toEqual({ unreadCount: 2, unreadMentionCount: 0, unreadConversations: 1 });
    // The same tombstones through a sync.
    const synced = await ok(bobSocket, "messages:sync", { conversationId });
    expect(synced.messages.filter((m) => m.senderId === ann).map((m) => [m.isDeleted, m.content])).toEqual([
      [true, ""],
      [true, ""],
      [true, ""],
    ]);

    // Webhooks: one user.erased, no message.deleted; Ann's content is gone from the outbox.
    expect((await outboxOf(svc, "user.erased")).filter((d) => d.userId === ann)).toEqual([{ userId: ann, messages: 3 }]);
    expect((await outboxOf(svc, "message.deleted")).filter((d) => d.conversationId === conversationId)).toEqual([]);
    expect((await outboxOf(svc, "message.unpinned")).filter((d) => d.conversationId === conversationId)).toEqual([]);
    expect((await b.get(`/api/messages/${top.id}`)).body).toMatchObject({ pinnedAt: null, pinnedBy: null });
    expect((await b.get(`/api/conversations/${conversationId}/pins`)).body.data).toEqual([]);
    const created = (await outboxOf(svc, "message.created")).filter((d) => d.senderId === ann);
    expect(created).toHaveLength(3);
    for (const data of created) expect(data).toMatchObject({ content: "", attachments: [], metadata: {}, mentions: [] });
    expect((await outboxOf(svc, "message.created")).find((d) => d.id === hey.id)).toMatchObject({ content: "hey @ann" });
    // No per-message room events either.
    await wall.pass();
    expect(deletedEvents).toEqual([]);
    expect(threadEvents).toEqual([]);
    // Asking again for a user never synced is 404; a finished erase can be asked again (nothing left to do).
    expect((await svc.internal("DELETE", "/api/users/never-synced?erase=true")).status).toBe(404);
    expect((await svc.internal("DELETE", `/api/users/${ann}?erase=true`)).status).toBe(202);
    await eventually(async () => (await erasing(svc, ann)) === undefined, 20_000, "second erase finished");
    // The second made no new tombstone.
    expect((await outboxOf(svc, "user.erased")).filter((d) => d.userId === ann)).toEqual([
      { userId: ann, messages: 3 },
      { userId: ann, messages: 0 },
    ]);
  });

  test("while an erase is pending, the user's content is not delivered, and syncing them again is 409", async () => {
    const [dan, eve] = (await makeUsers(svc, "dan", "eve")) as [string, string];
    await svc.syncUser(dan, { name: "Dan", avatarUrl: "https://cdn.example.com/dan.png", metadata: { email: "dan@example.com" } });
    const conversationId = await group(svc, eve, [dan]);
    const d = await svc.as(dan);
    // An erase recorded but not yet worked (the lifecycle worker runs hourly here and was not woken).
    await rowsOf(svc, sql`insert into user_erasures (user_id) values (${dan})`);
    const sent = (await d.post(`/api/conversations/${conversationId}/messages`, { content: "dan's secret" })).body;
    const fromEve = (await (await svc.as(eve)).post(`/api/conversations/${conversationId}/messages`, { content: "eve's word" })).body;
    // Eve's event goes out; Dan's waits (the drainer runs every 50 ms).
    await eventually(() => receiver.acceptedOf("message.created").some((x) => x.payload.data.id === fromEve.id), 10_000, "eve's message.created delivered");
    await Bun.sleep(300);
    expect(receiver.deliveries.filter((x) => x.payload.data?.id === sent.id)).toEqual([]);
    const [held] = await rowsOf<{ status: string }>(svc, sql`select status from webhook_events where payload -> 'data' ->> 'id' = ${sent.id}`);
    expect(held!.status).toBe("pending");

    const sync = await svc.internal("POST", "/api/users/sync", { externalUserId: dan, name: "Dan again" });
    expect([sync.status, sync.body.error.code, sync.body.error.details]).toEqual([409, "CONFLICT", { userIds: [dan] }]);
    expect((await svc.internal("POST", "/api/users/sync/batch", { users: [{ externalUserId: eve }, { externalUserId: dan }] })).status).toBe(409);

    // The erase runs (as asked for again), clears the payload, then lets it go; then a sync restores.
    expect((await svc.internal("DELETE", `/api/users/${dan}?erase=true`)).status).toBe(202);
    await eventually(() => receiver.acceptedOf("user.erased").some((x) => x.payload.data.userId === dan), 20_000, "user.erased delivered");
    await eventually(() => receiver.acceptedOf("message.created").some((x) => x.payload.data.id === sent.id), 10_000, "the held event delivered");
    const delivered = receiver.acceptedOf("message.created").filter((x) => x.payload.data.id === sent.id);
    for (const x of delivered) expect(x.payload.data).toMatchObject({ content: "", attachments: [], metadata: {}, mentions: [] });
    const restored = await svc.internal("POST", "/api/users/sync", { externalUserId: dan });
    expect(restored.status).toBe(201);
    // The profile went with the erase: a sync that leaves fields out does not bring it back.
    expect(restored.body).toMatchObject({ name: null, avatarUrl: null, metadata: {} });
  });
});

describe("erasing 100,000 messages", () => {
  /** One instance of the service by hand, on storage that outlives it. */
  async function boot(env: Record<string, string>): Promise<{ app: App; url: string }> {
    const config = loadConfig(testEnv(env));
    const app = await startApp(config, createLogger(config.LOG_LEVEL));
    return { app, url: `http://127.0.0.1:${app.ports.http}` };
  }
  const internal = (url: string, method: string, path: string, body?: unknown) => sendRequest(url, method, path, { body, headers: { "x-internal-secret": INTERNAL_SECRET } });

  test("goes in batches under the statement timeout, resumes after a restart, and leaves tombstones everywhere", async () => {
    const storage = await storageForMode();
    const receiver = startReceiver(RAW_SECRET);
    const env = {
      ...storage.env,
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: RAW_SECRET,
      LIFECYCLE_INTERVAL_MS: "3600000",
      LIFECYCLE_BATCH_SIZE: "1000",
      DATABASE_STATEMENT_TIMEOUT_MS: "5000",
    };
    let first: Awaited<ReturnType<typeof boot>> | undefined;
    let second: Awaited<ReturnType<typeof boot>> | undefined;
    try {
      first = await boot(env);
      const [ann, bob] = ["erase-ann", "erase-bob"];
      expect((await internal(first.url, "POST", "/api/users/sync/batch", { users: [{ externalUserId: ann }, { externalUserId: bob }] })).status).toBe(200);
      const bobAuth = { authorization: `Bearer ${await mintToken(bob)}` };
      const created = await sendRequest(first.url, "POST", "/api/conversations", { body: { type: "direct", participantIds: [ann] }, headers: bobAuth });
      const conversationId = created.body.id as string;
      await insertHistory(first, conversationId, ann, 100_000, { content: "something ann would rather forget" });
      const fromBob = await sendRequest(first.url, "POST", `/api/conversations/${conversationId}/messages`, { body: { content: "bob's own" }, headers: bobAuth });

      expect((await internal(first.url, "DELETE", `/api/users/${ann}?erase=true`)).status).toBe(202);
      // Stopped part-way: the batches done are committed, the job waits in the database.
      // Counted by the instance as its batches commit: read without asking the database, which the
      // embedded one answers only between batches.
      await eventually(() => first!.app.lifecycle.stats.erased >= 5000, 60_000, "some batches done");
      await first.app.stop();
      const longestBefore = first.app.lifecycle.stats.longestBatchMs;
      const stoppedAt = first.app.lifecycle.stats.erased;
      first = undefined;
      expect(stoppedAt).toBeGreaterThanOrEqual(5000);
      expect(stoppedAt).toBeLessThan(100_000);
      second = await boot(env);
      // The new instance took the job up where it stood (its first pass runs at start).
      await eventually(async () => (await erasing(second!, ann)) === undefined, 240_000, "erase finished after the restart");
      const longest = Math.max(longestBefore, second!.app.lifecycle.stats.longestBatchMs);
      console.log(`erase of 100,000 messages: longest batch ${Math.round(longest)} ms (statement timeout 5000 ms)`);
      expect(longest).toBeLessThan(5000);

      const [counts] = await rowsOf<{ total: number; tombstones: number }>(
        second!,
        sql`select count(*)::int as total, (count(*) filter (where deleted_at is not null and content = '' and mentions = '{}'))::int as tombstones
          from messages where sender_id = ${ann}`,
      );
      expect(counts).toEqual({ total: 100_000, tombstones: 100_000 });
      expect(await outboxOf(second!, "user.erased")).toEqual([{ userId: ann, messages: 100_000 }]);
      expect(await outboxOf(second!, "message.deleted")).toEqual([]);

      // Over REST, a sync and the export alike.
      const page = await sendRequest(second!.url, "GET", `/api/conversations/${conversationId}/messages?limit=100`, { headers: bobAuth });
      expect(page.body.data.filter((m: any) => m.senderId === ann).every((m: any) => m.isDeleted && m.content === "")).toBe(true);
      expect(page.body.data.at(-1)).toMatchObject({ id: fromBob.body.id, content: "bob's own", isDeleted: false });
      const { socket } = await connectSocket(second!.url, await mintToken(bob));
      const synced = await ok(socket, "messages:sync", { conversationId, afterSeq: 50_000 });
      expect(synced.messages).toHaveLength(100);
      expect(synced.messages.every((m) => m.isDeleted && m.content === "")).toBe(true);
      socket.close();
      const exported = await fetch(`${second!.url}/api/users/${ann}/export`, { headers: { "x-internal-secret": INTERNAL_SECRET } }).then((r) => r.json() as Promise<any>);
      expect(exported.messages).toHaveLength(100_000);
      expect(exported.messages.every((m: any) => m.isDeleted && m.content === "" && m.attachments.length === 0)).toBe(true);
      // Bob's count: Ann's 100,000 are tombstones now.
      expect((await sendRequest(second!.url, "GET", `/api/conversations/${conversationId}/unread-count`, { headers: bobAuth })).body).toMatchObject({ unreadCount: 0 });
    } finally {
      await first?.app.stop();
      await second?.app.stop();
      receiver.stop();
      await storage.drop();
    }
  }, 400_000);
});

