/**
 * Instances on PgBouncer in transaction mode (DATABASE_POOLER=transaction): statements are not
 * prepared by name, the timeouts come from the server, and the migration lock is a transaction's,
 * so that it cannot outlive its session on a pooled server connection.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { journal } from "../../drizzle/migrations";
import { type Cluster, type Instance, internal, restAs, startCluster } from "../helpers/instances";
import { type Bouncer, startPgBouncer } from "../helpers/pgbouncer";
import { ok } from "../helpers/realtime";
import { mintToken } from "../helpers/service";
import { closeAllSockets, connectSocket, eventually, nextEvent } from "../helpers/sockets";
import { drizzle } from "drizzle-orm/postgres-js";
import { insertHistory } from "../helpers/history";
import { RAW_SECRET, startReceiver } from "../webhooks/receiver";

let bouncer: Bouncer;
let cluster: Cluster;
let through: Record<string, string>;
beforeAll(async () => {
  cluster = await startCluster({ DATABASE_POOL_SIZE: "4", DATABASE_POOLER: "transaction" });
  // What the service would send at connect, set where a pooler keeps it: on the database. Before
  // PgBouncer starts: the server connection its readiness check opens is pooled from then on.
  const admin = postgres(cluster.databaseUrl, { max: 1, onnotice: () => {} });
  const name = new URL(cluster.databaseUrl).pathname.slice(1);
  await admin.unsafe(`alter database "${name}" set statement_timeout = 30000`);
  await admin.unsafe(`alter database "${name}" set lock_timeout = 10000`);
  await admin.end();
  // In front of the cluster's server (DATABASE_URL's, or the tests' own without it). Two server
  // connections for instances with four each: every instance's statements hop between server
  // connections, as they do on a busy pooler.
  bouncer = await startPgBouncer(cluster.databaseUrl, { poolSize: 2 });
  through = { DATABASE_URL: bouncer.through(cluster.databaseUrl) };
}, 60_000);
afterAll(async () => {
  closeAllSockets();
  await cluster?.stop();
  await bouncer?.stop();
}, 60_000);

const ready = async (instance: Instance) => (await fetch(`${instance.url}/ready`)).json();

describe("through PgBouncer in transaction mode", () => {
  test("instances migrating at once, then one more, then the migrate command: all through the pooler, none waits for a lock left behind", async () => {
    const started = await Promise.all([cluster.start(through), cluster.start(through), cluster.start(through)]);
    const later = await cluster.start(through);
    const migrate = Bun.spawn([process.execPath, "src/main.ts", "migrate"], {
      cwd: `${import.meta.dir}/../..`,
      env: { PATH: process.env.PATH, LOG_LEVEL: "warn", DATABASE_POOLER: "transaction", ...through },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await migrate.exited).toBe(0);
    for (const instance of [...started, later]) expect(await ready(instance)).toMatchObject({ status: "ready" });
    const sql = postgres(cluster.databaseUrl, { max: 1, onnotice: () => {} });
    expect((await sql`select count(*)::int as n from drizzle.__drizzle_migrations`)[0]!.n).toBe(journal.entries.length);
    await sql.end();
    for (const instance of [...started, later]) {
      // The timeouts set on the database match the configuration: no warning about them.
      expect(instance.output()).not.toContain("timeouts differ");
      expect(instance.output()).not.toContain('"level":"error"');
    }
  }, 90_000);

  test("hot paths (sends, pages, membership checks, unread counts) and cross-instance delivery work on pooled connections", async () => {
    const [a, b] = await Promise.all([cluster.start(through), cluster.start(through)]);
    const tag = Date.now().toString(36);
    const [ann, bob] = [`ann-${tag}`, `bob-${tag}`];
    expect((await internal(a, "POST", "/api/users/sync/batch", { users: [{ externalUserId: ann }, { externalUserId: bob }] })).status).toBe(200);
    const annRest = await restAs(a, ann);
    const bobRest = await restAs(b, bob);
    const conversationId = (await annRest.post("/api/conversations", { type: "group", participantIds: [bob], name: "pooled" })).body.id;
    const sAnn = (await connectSocket(a.wsUrl, await mintToken(ann))).socket;
    const sBob = (await connectSocket(b.wsUrl, await mintToken(bob))).socket;

    for (let i = 0; i < 20; i++) {
      const heard = nextEvent(sBob, "message:new", (m: any) => m.content === `hello ${i}`);
      const sent = await ok(sAnn, "message:send", { conversationId, content: `hello ${i}` });
      expect(await heard).toEqual(sent);
      const page = await bobRest.get(`/api/conversations/${conversationId}/messages?limit=5`);
      expect(page.status).toBe(200);
      expect(page.body.data.at(-1).id).toBe(sent.id);
      expect((await bobRest.get(`/api/conversations/${conversationId}/unread-count`)).body.unreadCount).toBe(1);
      // Changes made in transactions, whose statements must not be prepared on another connection.
      expect((await bobRest.post(`/api/messages/${sent.id}/reactions`, { emoji: "👍" })).status).toBe(201);
      expect((await bobRest.put(`/api/messages/${sent.id}/read`)).status).toBe(200);
      expect((await annRest.patch(`/api/messages/${sent.id}`, { content: `hello ${i}, edited` })).status).toBe(200);
    }
    const sync = await ok(sBob, "messages:sync", { conversationId });
    expect(sync.messages.map((m: any) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(a.output() + b.output()).not.toMatch(/prepared statement|"level":"error"/);
  }, 60_000);

  test("retention on two instances through the pooler: each batch is taken by one of them, once", async () => {
    const receiver = startReceiver(RAW_SECRET);
    try {
      const lifecycle = { MESSAGE_RETENTION_DAYS: "30", LIFECYCLE_INTERVAL_MS: "200", LIFECYCLE_BATCH_SIZE: "100", WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: RAW_SECRET };
      const [a, b] = await Promise.all([cluster.start({ ...through, ...lifecycle }), cluster.start({ ...through, ...lifecycle })]);
      const tag = Date.now().toString(36);
      const [ann, bob] = [`old-ann-${tag}`, `old-bob-${tag}`];
      expect((await internal(a, "POST", "/api/users/sync/batch", { users: [{ externalUserId: ann }, { externalUserId: bob }] })).status).toBe(200);
      const conversationId = (await (await restAs(a, ann)).post("/api/conversations", { type: "group", participantIds: [bob], name: "old" })).body.id;
      const direct = postgres(cluster.databaseUrl, { max: 1, onnotice: () => {} });
      try {
        const db = drizzle(direct);
        await insertHistory({ app: { ctx: { db } } } as never, conversationId, ann, 2000, { at: Date.now() - 40 * 86_400_000 });
        await eventually(async () => (await direct`select count(*)::int as n from messages where conversation_id = ${conversationId}`)[0]!.n === 0, 60_000, "history purged");
        const cuts = (await direct`select (payload -> 'data' ->> 'upToSeq')::int as seq from webhook_events where type = 'messages.expired' and payload -> 'data' ->> 'conversationId' = ${conversationId} order by id`).map((r) => r.seq);
        // 20 batches of 100, none done twice: the cuts go up by 100 each time.
        expect(cuts).toEqual(Array.from({ length: 20 }, (_, i) => (i + 1) * 100));
        const sent = await (await restAs(b, bob)).post(`/api/conversations/${conversationId}/messages`, { content: "new" });
        expect(sent.body.seq).toBe(2001);
      } finally {
        await direct.end();
      }
      expect(a.output() + b.output()).not.toMatch(/prepared statement|"level":"error"/);
    } finally {
      receiver.stop();
    }
  }, 90_000);

  test("without DATABASE_POOLER=transaction the pool's connections are refused (startup parameters): the instance is not ready", async () => {
    const plain = await cluster.start({ ...through, DATABASE_POOLER: "none" });
    const res = await fetch(`${plain.url}/ready`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error.details.checks).toMatchObject({ database: "unreachable" });
    expect(bouncer.output()).toContain("unsupported startup parameter");
  }, 60_000);
});
