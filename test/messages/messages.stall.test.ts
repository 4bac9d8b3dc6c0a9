import { expect, test } from "bun:test";
import { startService } from "../helpers/service";
import { sharedDatabase } from "../helpers/postgres";

/**
 * Sends are written in batches, normally one statement at a time. A statement stuck behind a
 * lock (another transaction holding a conversation) must not hold up sends to the instance's
 * other conversations. Needs a second connection to hold the lock: real Postgres in both modes.
 */
test("a send stuck behind a lock on its conversation does not hold up other conversations", async () => {
  const db = await sharedDatabase();
  const svc = await startService({ DATABASE_URL: db.url });
  const holder = db.sql;
  try {
    await svc.syncUsers("st-ann", "st-bob", "st-cat");
    const ann = await svc.as("st-ann");
    const stuck = (await ann.post("/api/conversations", { type: "direct", participantIds: ["st-bob"] })).body.id as string;
    const free = (await ann.post("/api/conversations", { type: "direct", participantIds: ["st-cat"] })).body.id as string;

    const conn = await holder.reserve();
    await conn`begin`;
    await conn`select id from conversations where id = ${stuck} for update`;
    const blocked = ann.post(`/api/conversations/${stuck}/messages`, { content: "waits for the lock" });
    await Bun.sleep(100); // the stuck statement is in flight

    const started = performance.now();
    const other = await ann.post(`/api/conversations/${free}/messages`, { content: "goes through" });
    expect(other.status).toBe(201);
    expect(performance.now() - started).toBeLessThan(3000);

    await conn`rollback`;
    conn.release();
    const late = await blocked;
    expect(late.status).toBe(201);
    expect(late.body.seq).toBe(1);
  } finally {
    await svc.stop();
    await db.drop();
  }
}, 60_000);
