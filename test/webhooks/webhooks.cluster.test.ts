import { afterAll, afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { withTransaction } from "../../src/core/db/transaction";
import { leaseMs } from "../../src/webhooks/drainer";
import { recordEvents } from "../../src/webhooks/outbox";
import { INTERNAL_SECRET, JWT_SECRET, mintToken, startService, type TestService } from "../helpers/service";
import { eventually } from "../helpers/sockets";
import { scrape, total } from "../ops/prometheus";
import { accept, type Receiver, startReceiver, WHSEC_SECRET } from "./receiver";
import { type SharedDatabase, sharedDatabase } from "../helpers/postgres";

/** Everything a test started, torn down after it whatever happened. */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(): Promise<{ db: SharedDatabase; receiver: Receiver }> {
  const db = await sharedDatabase();
  cleanups.push(() => db.drop());
  const receiver = startReceiver(WHSEC_SECRET);
  cleanups.push(() => receiver.stop());
  return { db, receiver };
}

async function instance(db: SharedDatabase, receiver: Receiver, env: Record<string, string> = {}): Promise<TestService> {
  const svc = await startService({ DATABASE_URL: db.url, WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: WHSEC_SECRET, WEBHOOK_DRAIN_INTERVAL_MS: "20", ...env });
  cleanups.push(() => svc.stop());
  return svc;
}

type Row = { id: string; status: string; attempts: number; locked_by: string | null };
const rowsOf = (db: SharedDatabase) => db.sql<Row[]>`select id, status, attempts, locked_by from webhook_events order by id`;

test("two instances draining one outbox deliver each event exactly once", async () => {
  const { db, receiver } = await setUp();
  // A receiver that takes a little while, so both instances have deliveries in flight at once.
  receiver.behaviour = () => Bun.sleep(5).then(() => new Response("ok"));
  const a = await instance(db, receiver, { WEBHOOK_CONCURRENCY: "4" });
  const b = await instance(db, receiver, { WEBHOOK_CONCURRENCY: "4" });

  const batches = Array.from({ length: 4 }, (_, batch) =>
    Array.from({ length: 50 }, (_, i) => ({ type: "message.created" as const, data: { batch, n: i } })),
  );
  for (const [i, batch] of batches.entries()) {
    const ctx = (i % 2 ? b : a).app.ctx;
    await withTransaction(ctx, (tx) => recordEvents(ctx, tx, batch));
  }

  await receiver.waitForAccepted(200, 30000);
  await eventually(async () => (await rowsOf(db)).every((r) => r.status === "delivered"), 5000, "all marked delivered");
  await Bun.sleep(500); // a duplicate would show up by now
  const ids = receiver.deliveries.map((d) => d.payload.id);
  expect(ids.length).toBe(200);
  expect(new Set(ids).size).toBe(200);
  expect(receiver.deliveries.every((d) => d.verifyError === null)).toBe(true);
  const rows = await rowsOf(db);
  expect(rows.length).toBe(200);
  expect(rows.every((r) => r.status === "delivered" && r.attempts === 1 && r.locked_by === null)).toBe(true);
  // Both took part: the claims really were shared, not serialised behind one instance.
  const delivered = async (svc: TestService) => total(await scrape(svc.url), "chat_webhook_deliveries_total", { outcome: "delivered" });
  const [byA, byB] = [await delivered(a), await delivered(b)];
  expect(byA).toBeGreaterThan(0);
  expect(byB).toBeGreaterThan(0);
  expect(byA + byB).toBe(200);
}, 60000);

test("an instance killed mid-delivery loses nothing: another delivers the event once its lease ends", async () => {
  const { db, receiver } = await setUp();
  const held = Promise.withResolvers<Response>();
  cleanups.push(() => held.resolve(new Response("too late")));
  receiver.behaviour = (d) => (d.attempt === 0 ? held.promise : accept(d));

  const timeoutMs = 4000;
  const child = Bun.spawn(["bun", "src/main.ts"], {
    cwd: join(import.meta.dir, "../.."),
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: "test",
      HOST: "127.0.0.1",
      PORT: "0",
      WS_PORT: "0",
      LOG_LEVEL: "info",
      DATABASE_URL: db.url,
      AUTH_JWT_SECRET: JWT_SECRET,
      INTERNAL_API_SECRET: INTERNAL_SECRET,
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: WHSEC_SECRET,
      WEBHOOK_TIMEOUT_MS: String(timeoutMs),
      WEBHOOK_DRAIN_INTERVAL_MS: "50",
    },
    stdout: "pipe",
    stderr: "inherit",
  });
  cleanups.push(() => child.kill(9));
  const port = await listeningPort(child.stdout);
  const api = (method: string, path: string, body: unknown, headers: Record<string, string>) =>
    fetch(`http://127.0.0.1:${port}${path}`, { method, body: JSON.stringify(body), headers: { "content-type": "application/json", ...headers } });

  expect((await api("POST", "/api/users/sync/batch", { users: [{ externalUserId: "ann" }, { externalUserId: "bob" }] }, { "x-internal-secret": INTERNAL_SECRET })).status).toBe(200);
  const created = await api("POST", "/api/conversations", { type: "direct", participantIds: ["bob"] }, { authorization: `Bearer ${await mintToken("ann")}` });
  expect(created.status).toBe(201);

  await eventually(() => receiver.deliveries.length === 1, 15000, "the child's delivery in flight");
  const first = receiver.deliveries[0]!;
  child.kill(9);
  await child.exited;
  const [orphan] = await rowsOf(db);
  expect(orphan).toMatchObject({ id: first.payload.id, status: "pending", attempts: 0 });
  expect(orphan!.locked_by).not.toBeNull();

  await instance(db, receiver);
  await eventually(() => receiver.accepted().length === 1, 30000, "redelivery by the surviving instance");
  const second = receiver.accepted()[0]!;
  expect(second.payload.id).toBe(first.payload.id);
  expect(second.verifyError).toBeNull();
  // Not before the dead instance's lease ran out (measured from just before its POST).
  expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(leaseMs(timeoutMs) - 1000);
  await eventually(async () => (await rowsOf(db))[0]!.status === "delivered", 5000, "marked delivered");
  expect((await rowsOf(db))[0]).toMatchObject({ status: "delivered", attempts: 1, locked_by: null });
}, 60000);

test("a graceful stop lets the delivery in flight end (bounded) and gives its event back at once", async () => {
  const { db, receiver } = await setUp();
  const held = Promise.withResolvers<Response>();
  cleanups.push(() => held.resolve(new Response("too late")));
  receiver.behaviour = (d) => (d.attempt === 0 ? held.promise : accept(d));
  // A 30 s timeout means a 35 s lease: only the release lets another instance deliver soon.
  const a = await instance(db, receiver, { WEBHOOK_TIMEOUT_MS: "30000", SHUTDOWN_TIMEOUT_MS: "2000" });
  await withTransaction(a.app.ctx, (tx) => recordEvents(a.app.ctx, tx, [{ type: "user.online", data: { userId: "ann", timestamp: new Date().toISOString() } }]));
  await eventually(() => receiver.deliveries.length === 1, 15000, "delivery in flight");

  const stopping = Date.now();
  await a.stop();
  expect(Date.now() - stopping).toBeLessThan(10000);
  const [released] = await rowsOf(db);
  expect(released).toMatchObject({ status: "pending", attempts: 0, locked_by: null });

  await instance(db, receiver);
  await eventually(() => receiver.accepted().length === 1, 15000, "delivered by the next instance before the old lease would end");
  expect(receiver.accepted()[0]!.payload.id).toBe(released!.id);
  await eventually(async () => (await rowsOf(db))[0]!.status === "delivered", 5000, "marked delivered");
}, 60000);

/** Reads the child's JSON log lines until it says where it listens. */
async function listeningPort(stdout: ReadableStream<Uint8Array>): Promise<number> {
  const decoder = new TextDecoder();
  let buffered = "";
  const reader = stdout.getReader();
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    for (const line of buffered.split("\n").slice(0, -1)) {
      if (!line.includes('"listening"')) continue;
      reader.releaseLock();
      void stdout.pipeTo(new WritableStream()).catch(() => {}); // keep draining so the child never blocks on a full pipe
      return JSON.parse(line).port;
    }
  }
  throw new Error(`the child did not start listening:\n${buffered}`);
}
