import { describe, expect, test } from "bun:test";
import { serviceForTests } from "../helpers/service";

/** The host keeps its users in step with POST /api/users/sync and /sync/batch. */
const svc = serviceForTests();

const getUser = (id: string) => svc.internal("GET", `/api/users/${encodeURIComponent(id)}`);
const batch = (users: unknown[]) => svc.internal("POST", "/api/users/sync/batch", { users });

describe("single sync", () => {
  test("null clears a field, leaving it out keeps it", async () => {
    await svc.internal("POST", "/api/users/sync", { externalUserId: "keep", name: "Kim", avatarUrl: "https://cdn.example.com/k.png", metadata: { a: 1 } });
    const cleared = await svc.internal("POST", "/api/users/sync", { externalUserId: "keep", avatarUrl: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ name: "Kim", avatarUrl: null, metadata: { a: 1 } });
    const renamed = await svc.internal("POST", "/api/users/sync", { externalUserId: "keep", name: null, metadata: {} });
    expect(renamed.body).toMatchObject({ name: null, avatarUrl: null, metadata: {} });
    expect(Date.parse(renamed.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(cleared.body.updatedAt));
  });

  test("external ids: 1-128 characters of letters, digits and _.:@-", async () => {
    for (const id of ["a", "user_1.x:y@example.com-2", "U".repeat(128)]) {
      const res = await svc.internal("POST", "/api/users/sync", { externalUserId: id });
      expect({ id, status: res.status }).toEqual({ id, status: 201 });
      expect((await getUser(id)).body.externalUserId).toBe(id);
    }
    for (const id of ["", "U".repeat(129), "has space", "slash/y", "ümlaut", "new\nline", 42]) {
      const res = await svc.internal("POST", "/api/users/sync", { externalUserId: id });
      expect({ id, status: res.status, code: res.body?.error?.code }).toEqual({ id, status: 400, code: "VALIDATION_ERROR" });
    }
  });

  test("invalid fields are 400 and store nothing", async () => {
    const bodies = [
      {},
      { externalUserId: "bad-1", avatarUrl: "ftp://cdn.example.com/a.png" },
      { externalUserId: "bad-2", avatarUrl: "not a url" },
      { externalUserId: "bad-3", name: "n".repeat(201) },
      { externalUserId: "bad-4", metadata: "vip" },
      { externalUserId: "bad-5", metadata: { blob: "x".repeat(5000) } },
      { externalUserId: "bad-6", name: "nul\u0000" },
      { externalUserId: "bad-7", metadata: { ["k".repeat(65)]: true } },
    ];
    for (const body of bodies) {
      const res = await svc.internal("POST", "/api/users/sync", body);
      expect({ body, status: res.status, code: res.body?.error?.code }).toEqual({ body, status: 400, code: "VALIDATION_ERROR" });
    }
    for (let i = 1; i <= 7; i++) expect((await getUser(`bad-${i}`)).status).toBe(404);
  });

  test("error details name the field of the body itself, not a batch entry", async () => {
    const unstorable = await svc.internal("POST", "/api/users/sync", { externalUserId: "bad-8", name: "nul\u0000" });
    expect(unstorable.body.error.details).toEqual([{ path: "/name", message: "unstorable text" }]);
    const large = await svc.internal("POST", "/api/users/sync", { externalUserId: "bad-9", metadata: { blob: "x".repeat(5000) } });
    expect(large.body.error.details).toEqual([{ path: "/metadata", message: "too large" }]);
  });

  test("malformed ids in the path are 400, unknown ones 404", async () => {
    expect((await svc.internal("GET", "/api/users/has%20space")).status).toBe(400);
    expect((await svc.internal("GET", "/api/users/never-synced")).status).toBe(404);
    expect((await svc.internal("DELETE", "/api/users/has%20space")).status).toBe(400);
  });
});

describe("batch sync", () => {
  test("creates and updates in one go, answering the users in the order given with the counts", async () => {
    await svc.syncUser("b-old", { name: "Old" });
    const res = await batch([{ externalUserId: "b-new1", name: "One" }, { externalUserId: "b-old", name: "Renamed" }, { externalUserId: "b-new2" }]);
    expect(res.status).toBe(200);
    expect(res.body.created).toBe(2);
    expect(res.body.updated).toBe(1);
    expect(res.body.data.map((u: { externalUserId: string; name: string | null }) => [u.externalUserId, u.name])).toEqual([
      ["b-new1", "One"],
      ["b-old", "Renamed"],
      ["b-new2", null],
    ]);
    expect((await getUser("b-old")).body.name).toBe("Renamed");
  });

  test("all or nothing: one invalid entry rejects the batch with its index, and nothing is stored", async () => {
    const valid = (id: string) => ({ externalUserId: id, name: id });
    const cases: [unknown[], number][] = [
      [[valid("aon-1"), valid("aon-2"), { externalUserId: "bad id" }, valid("aon-3")], 2],
      [[valid("aon-1"), { externalUserId: "aon-2", metadata: { blob: "x".repeat(5000) } }], 1],
      [[{ externalUserId: "aon-1", name: "nul\u0000" }, valid("aon-2")], 0],
      [[valid("aon-1"), valid("aon-2"), valid("aon-3"), { externalUserId: "aon-4", avatarUrl: "mailto:x@example.com" }], 3],
    ];
    for (const [users, index] of cases) {
      const res = await batch(users);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_ERROR");
      expect(res.body.error.details).toBeArray();
      expect(res.body.error.details[0].index).toBe(index);
    }
    for (const id of ["aon-1", "aon-2", "aon-3", "aon-4"]) expect((await getUser(id)).status).toBe(404);
  });

  test("an id twice in one batch is refused, naming the second occurrence", async () => {
    const res = await batch([{ externalUserId: "dup-a" }, { externalUserId: "dup-b" }, { externalUserId: "dup-a", name: "again" }]);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "VALIDATION_ERROR", details: [{ index: 2, path: "/users/2/externalUserId" }] });
    expect((await getUser("dup-a")).status).toBe(404);
    expect((await getUser("dup-b")).status).toBe(404);
  });

  test("between 1 and 1000 users", async () => {
    expect((await batch([])).status).toBe(400);
    expect((await svc.internal("POST", "/api/users/sync/batch", {})).status).toBe(400);
    const many = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ externalUserId: `${prefix}-${i}` }));
    const tooMany = await batch(many(1001, "over"));
    expect(tooMany.status).toBe(400);
    expect((await getUser("over-0")).status).toBe(404);
    const full = await batch(many(1000, "full"));
    expect(full.status).toBe(200);
    expect(full.body).toMatchObject({ created: 1000, updated: 0, stale: 0 });
    expect(full.body.data).toHaveLength(1000);
    const again = await batch(many(1000, "full"));
    expect(again.body).toMatchObject({ created: 0, updated: 1000 });
  });

  test("a deleted user synced again counts as created and keeps what was stored unless sent", async () => {
    await svc.syncUser("phoenix", { name: "Phoenix", metadata: { tier: "gold" } });
    const original = (await getUser("phoenix")).body;
    await svc.internal("DELETE", "/api/users/phoenix");
    const res = await batch([{ externalUserId: "phoenix" }]);
    expect(res.body).toMatchObject({ created: 1, updated: 0 });
    expect(res.body.data[0]).toMatchObject({ externalUserId: "phoenix", name: "Phoenix", metadata: { tier: "gold" } });
    expect(Date.parse(res.body.data[0].createdAt)).toBeGreaterThanOrEqual(Date.parse(original.createdAt));
    expect((await svc.internal("POST", "/api/users/sync", { externalUserId: "phoenix" })).status).toBe(200);
  });
});

describe("sync ordering by version", () => {
  const sync = (body: Record<string, unknown>) => svc.internal("POST", "/api/users/sync", body);

  test("a version not above the stored one changes nothing and answers the stored user", async () => {
    expect((await sync({ externalUserId: "ver-a", name: "v10", version: 10 })).status).toBe(201);
    const newer = await sync({ externalUserId: "ver-a", name: "v20", version: 20 });
    expect(newer.status).toBe(200);
    expect(newer.body.name).toBe("v20");
    for (const version of [20, 15, 0]) {
      const late = await sync({ externalUserId: "ver-a", name: `late ${version}`, avatarUrl: "https://cdn.example.com/late.png", version });
      expect({ version, status: late.status, body: late.body }).toEqual({ version, status: 200, body: newer.body });
    }
    expect((await getUser("ver-a")).body).toEqual(newer.body);
  });

  test("a sync without version always applies and keeps the stored version", async () => {
    await sync({ externalUserId: "ver-b", name: "v5", version: 5 });
    const unversioned = await sync({ externalUserId: "ver-b", name: "plain" });
    expect(unversioned.body.name).toBe("plain");
    expect((await sync({ externalUserId: "ver-b", name: "old", version: 4 })).body.name).toBe("plain");
    expect((await sync({ externalUserId: "ver-b", name: "v6", version: 6 })).body.name).toBe("v6");
  });

  test("a late, older sync after a delete neither restores nor updates the user; a newer one does", async () => {
    await sync({ externalUserId: "ver-c", name: "v100", version: 100 });
    expect((await svc.internal("DELETE", "/api/users/ver-c")).status).toBe(204);
    for (const version of [100, 99]) {
      const late = await sync({ externalUserId: "ver-c", name: "late", version });
      expect({ version, status: late.status, code: late.body.error?.code }).toEqual({ version, status: 404, code: "NOT_FOUND" });
    }
    expect((await getUser("ver-c")).status).toBe(404);
    const lateBatch = await batch([{ externalUserId: "ver-c", name: "late", version: 50 }]);
    expect(lateBatch.body).toEqual({ data: [], created: 0, updated: 0, stale: 1 });
    expect((await getUser("ver-c")).status).toBe(404);
    const restored = await sync({ externalUserId: "ver-c", version: 101 });
    expect(restored.status).toBe(201);
    expect(restored.body.name).toBe("v100");
  });

  test("in a batch, stale entries are counted and answered as stored, the others applied", async () => {
    await batch([
      { externalUserId: "ver-d1", name: "d1 v5", version: 5 },
      { externalUserId: "ver-d2", name: "d2 v5", version: 5 },
    ]);
    const res = await batch([
      { externalUserId: "ver-d1", name: "d1 v4", version: 4 },
      { externalUserId: "ver-d3", name: "d3 v1", version: 1 },
      { externalUserId: "ver-d2", name: "d2 v6", version: 6 },
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ created: 1, updated: 1, stale: 1 });
    expect(res.body.data.map((u: { externalUserId: string; name: string }) => [u.externalUserId, u.name])).toEqual([
      ["ver-d1", "d1 v5"],
      ["ver-d3", "d3 v1"],
      ["ver-d2", "d2 v6"],
    ]);
  });

  test("syncs of a new user arriving at once, in any order: one creates it, the highest version wins", async () => {
    for (const round of [1, 2, 3]) {
      const id = `ver-race-${round}`;
      const versions = Array.from({ length: 40 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
      const answers = await Promise.all(versions.map((version) => sync({ externalUserId: id, name: `v${version}`, version })));
      expect(answers.filter((a) => a.status === 201).length).toBe(1);
      expect(answers.every((a) => a.status === 201 || a.status === 200)).toBe(true);
      expect((await getUser(id)).body.name).toBe("v40");
      // The stored version is 40: anything at or below it is stale.
      expect((await sync({ externalUserId: id, name: "late", version: 40 })).body.name).toBe("v40");
      // Batches of one entry each race the same way.
      const batchId = `ver-race-batch-${round}`;
      await Promise.all(versions.map((version) => batch([{ externalUserId: batchId, name: `v${version}`, version }])));
      expect((await getUser(batchId)).body.name).toBe("v40");
    }
  });

  test("version is a non-negative integer", async () => {
    for (const version of [-1, 1.5, "seven", null, 2 ** 53]) {
      const res = await sync({ externalUserId: "ver-e", version });
      expect({ version, status: res.status }).toEqual({ version, status: 400 });
    }
  });
});
