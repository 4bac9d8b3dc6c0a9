import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { mintToken, serviceForTests, startService } from "../helpers/service";
import { eventually } from "../helpers/sockets";
import { sharedDatabase } from "../helpers/postgres";

/** DELETE /api/users/:id: the user is gone for the API, their messages are not. */
const svc = serviceForTests();

type Conversation = { id: string; participants: { userId: string; role: string }[] };
const members = (c: Conversation) => Object.fromEntries(c.participants.map((p) => [p.userId, p.role]));

describe("deleting a user", () => {
  test("they leave every conversation, keep their messages, and their token stops working", async () => {
    await svc.syncUsers("del-ann", "del-bob", "del-cat");
    const [ann, bob] = [await svc.as("del-ann"), await svc.as("del-bob")];
    const group = (await ann.post("/api/conversations", { type: "group", participantIds: ["del-bob", "del-cat"] })).body as Conversation;
    const direct = (await bob.post("/api/conversations", { type: "direct", participantIds: ["del-ann"] })).body as Conversation;
    const inGroup = (await bob.post(`/api/conversations/${group.id}/messages`, { content: "bob was here" })).body;
    const inDirect = (await bob.post(`/api/conversations/${direct.id}/messages`, { content: "just us" })).body;

    const res = await svc.internal("DELETE", "/api/users/del-bob");
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();

    expect((await svc.internal("GET", "/api/users/del-bob")).status).toBe(404);
    const refused = await bob.get("/api/conversations");
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe("USER_NOT_FOUND");

    expect(members((await ann.get(`/api/conversations/${group.id}`)).body)).toEqual({ "del-ann": "owner", "del-cat": "member" });
    expect(members((await ann.get(`/api/conversations/${direct.id}`)).body)).toEqual({ "del-ann": "member" });
    expect((await ann.get(`/api/messages/${inGroup.id}`)).body).toEqual(inGroup);
    expect((await ann.get(`/api/messages/${inDirect.id}`)).body).toMatchObject({ senderId: "del-bob", content: "just us", isDeleted: false });
    expect((await ann.get(`/api/conversations/${group.id}`)).body.lastMessage.senderId).toBe("del-bob");

    // A deleted user cannot be added anywhere, and is not found twice.
    const add = await ann.post(`/api/conversations/${group.id}/participants`, { userIds: ["del-bob"] });
    expect(add.status).toBe(404);
    expect((await svc.internal("DELETE", "/api/users/del-bob")).status).toBe(404);
  });

  test("syncing the id again restores them: the same token works, conversations are not rejoined by themselves", async () => {
    await svc.syncUsers("ret-ann", "ret-bob");
    const ann = await svc.as("ret-ann");
    const bobToken = await mintToken("ret-bob");
    const direct = (await ann.post("/api/conversations", { type: "direct", participantIds: ["ret-bob"] })).body as Conversation;
    const hello = (await ann.post(`/api/conversations/${direct.id}/messages`, { content: "hello" })).body;
    await svc.internal("DELETE", "/api/users/ret-bob");

    const restored = await svc.internal("POST", "/api/users/sync", { externalUserId: "ret-bob" });
    expect(restored.status).toBe(201);
    const list = await svc.request("GET", "/api/conversations", { headers: { authorization: `Bearer ${bobToken}` } });
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual([]);

    // Opening the direct conversation again brings them back into the same one, history intact.
    const bob = await svc.as("ret-bob");
    const reopened = await bob.post("/api/conversations", { type: "direct", participantIds: ["ret-ann"] });
    expect(reopened.status).toBe(200);
    expect(reopened.body.id).toBe(direct.id);
    expect(Object.keys(members(reopened.body)).sort()).toEqual(["ret-ann", "ret-bob"]);
    expect((await bob.get(`/api/conversations/${direct.id}/messages`)).body.data.map((m: { id: string }) => m.id)).toEqual([hello.id]);
  });

  test("a group whose last owner is deleted gets a new owner: the longest-standing admin, else member", async () => {
    await svc.syncUsers("own-a", "own-b", "own-c", "own-d");
    const a = await svc.as("own-a");
    const withAdmin = (await a.post("/api/conversations", { type: "group", participantIds: ["own-b", "own-c"] })).body as Conversation;
    await a.patch(`/api/conversations/${withAdmin.id}/participants/own-c`, { role: "admin" });
    const membersOnly = (await a.post("/api/conversations", { type: "group", participantIds: ["own-d"] })).body as Conversation;
    await a.post(`/api/conversations/${membersOnly.id}/participants`, { userIds: ["own-b"] });
    const alone = (await a.post("/api/conversations", { type: "group", participantIds: ["own-a"] })).body as Conversation;

    expect((await svc.internal("DELETE", "/api/users/own-a")).status).toBe(204);

    const b = await svc.as("own-b");
    expect(members((await b.get(`/api/conversations/${withAdmin.id}`)).body)).toEqual({ "own-b": "member", "own-c": "owner" });
    expect(members((await b.get(`/api/conversations/${membersOnly.id}`)).body)).toEqual({ "own-d": "owner", "own-b": "member" });
    // The new owner can run the group.
    const c = await svc.as("own-c");
    expect((await c.patch(`/api/conversations/${withAdmin.id}/participants/own-b`, { role: "admin" })).status).toBe(200);
    // A group left with nobody in it is simply out of everyone's sight.
    await svc.syncUser("own-a");
    expect((await (await svc.as("own-a")).get(`/api/conversations/${alone.id}`)).status).toBe(404);
  });

  test("a group with another owner keeps its owners as they are", async () => {
    await svc.syncUsers("co-a", "co-b", "co-c");
    const a = await svc.as("co-a");
    const group = (await a.post("/api/conversations", { type: "group", participantIds: ["co-c"] })).body as Conversation;
    await a.post(`/api/conversations/${group.id}/participants`, { userIds: ["co-b"], role: "owner" });
    await svc.internal("DELETE", "/api/users/co-a");
    const c = await svc.as("co-c");
    expect(members((await c.get(`/api/conversations/${group.id}`)).body)).toEqual({ "co-c": "member", "co-b": "owner" });
  });

  test("a user deleted while being added to groups ends up in none of them", async () => {
    await svc.syncUsers("race-owner");
    const owner = await svc.as("race-owner");
    const groups: string[] = [];
    for (let i = 0; i < 5; i++) groups.push((await owner.post("/api/conversations", { type: "group", participantIds: ["race-owner"] })).body.id);
    for (let round = 0; round < 10; round++) {
      const id = `racer-${round}`;
      await svc.syncUser(id);
      // Added to the first group beforehand, so the deletion has memberships to lock as well.
      await owner.post(`/api/conversations/${groups[0]}/participants`, { userIds: [id] });
      const [deleted, ...others] = await Promise.all([
        svc.internal("DELETE", `/api/users/${id}`),
        ...groups.map((g) => owner.post(`/api/conversations/${g}/participants`, { userIds: [id] })),
        owner.post("/api/conversations", { type: "group", participantIds: [id] }),
      ]);
      expect(deleted!.status).toBe(204);
      // Each add either came first (and was then undone) or found the user gone; none failed.
      for (const res of others) expect([200, 201, 404]).toContain(res.status);
      for (const conversation of (await owner.get("/api/conversations?limit=100")).body.data as Conversation[]) {
        expect(conversation.participants.map((p) => p.userId)).not.toContain(id);
      }
    }
  });

  test("deleting an unknown user is 404; only the internal secret may delete", async () => {
    expect((await svc.internal("DELETE", "/api/users/never-was")).status).toBe(404);
    await svc.syncUser("safe");
    const asUser = await (await svc.as("safe")).delete("/api/users/safe");
    expect(asUser.status).toBe(401);
    expect((await svc.internal("GET", "/api/users/safe")).status).toBe(200);
  });
});

describe("locking", () => {
  /**
   * Message sends lock the conversations of a batch in id order. A deletion taking them in
   * another order could deadlock with them (and one side would fail after Postgres' deadlock
   * timeout). Seen from a second connection: while the deletion waits for the conversation with
   * the higher id, it already holds the lower one. Needs a real Postgres server in both modes.
   */
  test("a deletion locks the user's conversations in id order, like message sends", async () => {
    const db = await sharedDatabase();
    const pg = await startService({ DATABASE_URL: db.url });
    const holder = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await pg.syncUsers("lk-ann", "lk-bob", "lk-cat");
      const ann = await pg.as("lk-ann");
      // Ids are time-ordered: `low` is older. Bob joins `high` first and `low` afterwards, and
      // a message to `low` writes its row anew after `high`'s: every order Postgres could find
      // the rows in, other than by id, puts `high` first.
      const low = (await ann.post("/api/conversations", { type: "group", participantIds: ["lk-cat"] })).body.id as string;
      const high = (await ann.post("/api/conversations", { type: "group", participantIds: ["lk-bob"] })).body.id as string;
      expect((await ann.post(`/api/conversations/${low}/participants`, { userIds: ["lk-bob"] })).status).toBe(200);
      expect((await ann.post(`/api/conversations/${low}/messages`, { content: "moves the row" })).status).toBe(201);
      expect(low < high).toBe(true);

      const held = holder.reserve();
      const conn = await held;
      await conn`begin`;
      await conn`select id from conversations where id = ${high} for update`;
      const deletion = pg.internal("DELETE", "/api/users/lk-bob");
      await eventually(
        async () => (await db.sql`select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`).length > 0,
        10_000,
        "the deletion waiting for the held conversation",
      );
      const lowFree = await db.sql`select id from conversations where id = ${low} for update nowait`.then(
        () => true,
        (error: { code?: string }) => (error.code === "55P03" ? false : Promise.reject(error)),
      );
      expect(lowFree).toBe(false);
      await conn`rollback`;
      conn.release();
      expect((await deletion).status).toBe(204);
    } finally {
      // Ends the holding transaction too, if an assertion failed while it was open.
      await holder.end({ timeout: 1 });
      await pg.stop();
      await db.drop();
    }
  }, 60_000);
});
