import { beforeAll, describe, expect, test } from "bun:test";
import { connectAs } from "../helpers/realtime";
import { eventually } from "../helpers/sockets";
import { type ApiClient, serviceForTests } from "../helpers/service";

/** Presence read over REST. Nobody here keeps a socket, so everyone reads as offline. */
const svc = serviceForTests();
let ann: ApiClient, eve: ApiClient;
let conversationId: string;
const UNKNOWN_ID = "018f0000-0000-7000-8000-000000000000";
const offline = (userId: string) => ({ userId, status: "offline", lastSeen: null });

beforeAll(async () => {
  await svc.syncUsers("ann", "bob", "cat", "eve");
  [ann, eve] = [await svc.as("ann"), await svc.as("eve")];
  conversationId = (await ann.post("/api/conversations", { type: "group", participantIds: ["bob", "cat"] })).body.id;
}, 60_000);

describe("one user", () => {
  test("any synced user's presence, to any user", async () => {
    const res = await eve.get("/api/users/bob/presence");
    expect(res.status).toBe(200);
    expect(res.body).toEqual(offline("bob"));
  });

  test("an unknown or deleted user reads as offline, never seen, as in the batch; a malformed id is 400", async () => {
    const unknown = await ann.get("/api/users/nobody/presence");
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual({ userId: "nobody", status: "offline", lastSeen: null });
    expect((await ann.post("/api/presence/batch", { userIds: ["nobody"] })).body.data).toEqual([unknown.body]);
    // Seen once (a socket came and went), then deleted: never seen, as if the id had never existed.
    await svc.syncUser("leaving");
    (await connectAs(svc.wsUrl, svc, "leaving")).close();
    await eventually(async () => (await ann.get("/api/users/leaving/presence")).body.lastSeen !== null);
    await svc.internal("DELETE", "/api/users/leaving");
    expect((await ann.get("/api/users/leaving/presence")).body).toEqual(offline("leaving"));
    expect((await ann.post("/api/presence/batch", { userIds: ["leaving"] })).body.data).toEqual([offline("leaving")]);
    const malformed = await ann.get("/api/users/not%20valid/presence");
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("VALIDATION_ERROR");
  });
});

describe("batch", () => {
  test("one row per distinct id, in the order asked; ids nobody synced read as offline", async () => {
    const res = await ann.post("/api/presence/batch", { userIds: ["cat", "ann", "ghost", "cat"] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: [offline("cat"), offline("ann"), offline("ghost")], hasMore: false, nextCursor: null });
  });

  test("at most 500 ids; 501 or none is 400", async () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `u${i}`);
    const full = await ann.post("/api/presence/batch", { userIds: ids(500) });
    expect(full.status).toBe(200);
    expect(full.body.data).toHaveLength(500);
    for (const body of [{ userIds: ids(501) }, { userIds: [] }, {}, { userIds: ["bad id"] }, { userIds: "ann" }]) {
      const res = await ann.post("/api/presence/batch", body);
      expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status: 400, code: "VALIDATION_ERROR" });
    }
  });
});

describe("a conversation", () => {
  test("its participants, for its members only", async () => {
    const res = await ann.get(`/api/conversations/${conversationId}/presence`);
    expect(res.status).toBe(200);
    expect(res.body.hasMore).toBe(false);
    expect(res.body.data.map((p: { userId: string }) => p.userId).sort()).toEqual(["ann", "bob", "cat"]);
    for (const row of res.body.data) expect(row).toEqual(offline(row.userId));
  });

  test("paged in user id order, up to 1,000 rows at a time; a bad limit or cursor is 400", async () => {
    const base = `/api/conversations/${conversationId}/presence`;
    const first = await ann.get(`${base}?limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.data.map((p: { userId: string }) => p.userId)).toEqual(["ann", "bob"]);
    expect(first.body.hasMore).toBe(true);
    const second = await ann.get(`${base}?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body).toEqual({ data: [offline("cat")], hasMore: false, nextCursor: null });
    // Past the last participant: an empty page, not a 404.
    const past = await ann.get(`${base}?cursor=${Buffer.from("zzz").toString("base64url")}`);
    expect(past.body).toEqual({ data: [], hasMore: false, nextCursor: null });
    expect((await eve.get(`${base}?cursor=${first.body.nextCursor}`)).status).toBe(404);
    for (const query of ["limit=0", "limit=1001", "limit=x", "cursor=not%20a%20cursor", `cursor=${"a".repeat(600)}`]) {
      const res = await ann.get(`${base}?${query}`);
      expect({ query, status: res.status, code: res.body.error?.code }).toEqual({ query, status: 400, code: "VALIDATION_ERROR" });
    }
  });

  test("outsiders and unknown conversations are 404, malformed ids 400", async () => {
    expect((await eve.get(`/api/conversations/${conversationId}/presence`)).status).toBe(404);
    expect((await ann.get(`/api/conversations/${UNKNOWN_ID}/presence`)).status).toBe(404);
    expect((await ann.get("/api/conversations/zzz/presence")).status).toBe(400);
  });
});
