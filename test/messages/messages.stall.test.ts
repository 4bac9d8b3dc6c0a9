import { expect, test } from "bun:test";
import { startService } from "../helpers/service";
import { sharedDatabase } from "../helpers/postgres";
import { connectSocket } from "../helpers/sockets";

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

test("a statement that times out waiting for one conversation's lock fails only that conversation's sends", async () => {
  const db = await sharedDatabase();
  const svc = await startService({ DATABASE_URL: db.url, DATABASE_LOCK_TIMEOUT_MS: "1000" });
  try {
    await svc.syncUsers("lt-ann", "lt-bob", "lt-cat", "lt-dan");
    const ann = await svc.as("lt-ann");
    const direct = async (other: string) => (await ann.post("/api/conversations", { type: "direct", participantIds: [other] })).body.id as string;
    const [held, alsoHeld, free] = [await direct("lt-bob"), await direct("lt-cat"), await direct("lt-dan")];

    const conn = await db.sql.reserve();
    await conn`begin`;
    await conn`select id from conversations where id in ${db.sql([held, alsoHeld])} for update`;
    const { socket } = await connectSocket(svc.url, ann.token);
    // Back to back: the first opens a statement that waits on its lock; the other two wait
    // together for the next one, which then waits on the second lock too.
    const [first, second, third] = await Promise.all([
      socket.emitWithAck("message:send", { conversationId: held, content: "held" }),
      socket.emitWithAck("message:send", { conversationId: alsoHeld, content: "also held" }),
      socket.emitWithAck("message:send", { conversationId: free, content: "free" }),
    ]);
    expect(third).toMatchObject({ ok: true, data: { conversationId: free, seq: 1 } });
    expect(first).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    expect(second).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    await conn`rollback`;
    conn.release();
    socket.close();
  } finally {
    await svc.stop();
    await db.drop();
  }
}, 60_000);
