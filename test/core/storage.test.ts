import { describe, expect, test } from "bun:test";
import type { Storage } from "../../src/core/db/client";
import { sharedDatabase } from "../helpers/postgres";
import { MODE, serviceForTests, startService } from "../helpers/service";

/** The plan mode of the connection a statement runs on. */
const planMode = async (run: Storage["query"]) => (await run<{ mode: string }>("select current_setting('plan_cache_mode') as mode", []))[0]!.mode;

describe("connections for page reads", () => {
  const svc = serviceForTests({ DATABASE_POOL_SIZE: "8" });

  test("page reads run with one plan kept per connection; every other statement is planned as PostgreSQL chooses", async () => {
    const { storage } = svc.app.ctx;
    expect(await planMode(storage.query)).toBe("auto");
    // The embedded database has one connection: its page reads are planned as the rest.
    expect(await planMode(storage.queryPlanned)).toBe(MODE === "postgres" ? "force_generic_plan" : "auto");
    await svc.syncUsers("ann", "bob");
    const ann = await svc.as("ann");
    const { id } = (await ann.post("/api/conversations", { type: "group", participantIds: ["bob"] })).body;
    for (let i = 0; i < 3; i++) expect((await ann.post(`/api/conversations/${id}/messages`, { content: `m${i}` })).status).toBe(201);
    // Read more than five times, past where PostgreSQL chooses between a kept plan and a new one.
    for (let i = 0; i < 8; i++) {
      const page = await ann.get(`/api/conversations/${id}/messages?limit=2${i % 2 ? "" : "&includeReplies=true"}`);
      expect(page.status).toBe(200);
      expect(page.body.data.map((m: { content: string }) => m.content)).toEqual(["m1", "m2"]);
      expect(page.body.hasMore).toBe(true);
    }
  });

  test("behind a transaction-mode pooler (no prepared statements) page reads share the one pool", async () => {
    // A database of a real server in both modes: the pooler setting concerns PostgreSQL only.
    const db = await sharedDatabase();
    const pooled = await startService({ DATABASE_URL: db.url, DATABASE_POOLER: "transaction" });
    try {
      expect(await planMode(pooled.app.ctx.storage.queryPlanned)).toBe("auto");
      await pooled.syncUsers("ann", "bob");
      const ann = await pooled.as("ann");
      const { id } = (await ann.post("/api/conversations", { type: "group", participantIds: ["bob"] })).body;
      expect((await ann.post(`/api/conversations/${id}/messages`, { content: "hi" })).status).toBe(201);
      expect((await ann.get(`/api/conversations/${id}/messages`)).body.data.map((m: { content: string }) => m.content)).toEqual(["hi"]);
    } finally {
      await pooled.stop();
      await db.drop();
    }
  }, 60_000);
});
