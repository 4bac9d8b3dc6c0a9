import { afterAll, describe, expect, test } from "bun:test";
import { closeAllSockets, connectSocket, type ClientSocket, nextEvent } from "../helpers/sockets";
import { dropRedisPrefix, freshDatabase, INTERNAL_SECRET, JWT_SECRET, mintToken, sendRequest, uniquePrefix } from "../helpers/service";
import { binaryEnv, isolatedBinary, type RunningBinary, startBinary, runBinary, waitFor200 } from "./binary";
import { has, parsePrometheus, total } from "./prometheus";

/*
 * The shipped artefact end to end: the compiled binary alone in an empty folder, configured by
 * environment only, serves REST and sockets, and on SIGTERM exits 0 without losing a message it
 * acknowledged. Always on embedded PGlite; on Postgres (and Redis) too when DATABASE_URL is set.
 */

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  closeAllSockets();
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const call = (base: string, method: string, path: string, headers: Record<string, string>, body?: unknown) => sendRequest(base, method, path, { body, headers });

/** Every message of a conversation, paging back from the newest. */
async function allMessages(base: string, auth: Record<string, string>, conversationId: string): Promise<{ id: string; seq: number }[]> {
  const found: { id: string; seq: number }[] = [];
  let before: string | undefined;
  for (;;) {
    const page = await call(base, "GET", `/api/conversations/${conversationId}/messages?limit=100${before ? `&before=${before}` : ""}`, auth);
    expect(page.status).toBe(200);
    found.unshift(...page.body.data);
    if (!page.body.hasMore) return found;
    before = page.body.data[0].id;
  }
}

const modes = [{ name: "embedded PGlite", postgres: false }, ...(process.env.DATABASE_URL ? [{ name: "Postgres and Redis", postgres: true }] : [])];

describe.each(modes)("compiled binary on $name", ({ postgres }) => {
  test(
    "starts from an empty folder, serves REST and sockets, and stops on SIGTERM without losing an acked message",
    async () => {
      const { dir, binary, cleanup } = isolatedBinary();
      cleanups.push(cleanup);
      const database = postgres ? await freshDatabase() : undefined;
      if (database) cleanups.push(() => database.drop());
      const redisPrefix = uniquePrefix();
      if (postgres && process.env.REDIS_URL) cleanups.push(() => dropRedisPrefix(process.env.REDIS_URL!, redisPrefix));
      const env = binaryEnv({
        ...(postgres ? { DATABASE_URL: database!.url, REDIS_URL: process.env.REDIS_URL, REDIS_PREFIX: redisPrefix } : { DATA_DIR: `${dir}/data` }),
        RATE_LIMIT_MESSAGES: "100000",
        RATE_LIMIT_EVENTS: "100000",
      });

      const first = await startBinary(binary, dir, env);
      let running: RunningBinary | undefined = first;
      cleanups.push(() => running?.kill("SIGKILL"));
      await waitFor200(`${first.url}/ready`);
      const health = await runBinary(binary, dir, ["healthcheck", "--ready"], { ...env, PORT: String(first.port) });
      expect(health.code).toBe(0);

      // A REST send reaches the other participant's socket.
      const internal = { "x-internal-secret": INTERNAL_SECRET };
      expect((await call(first.url, "POST", "/api/users/sync/batch", internal, { users: [{ externalUserId: "alice" }, { externalUserId: "bob" }] })).status).toBe(200);
      const [aliceToken, bobToken] = await Promise.all([mintToken("alice"), mintToken("bob")]);
      const alice = { authorization: `Bearer ${aliceToken}` };
      const conversation = await call(first.url, "POST", "/api/conversations", alice, { type: "direct", participantIds: ["bob"] });
      expect(conversation.status).toBe(201);
      const conversationId: string = conversation.body.id;
      const { socket: bob } = await connectSocket(first.wsUrl, bobToken, { reconnection: false });
      const bobDisconnect = new Promise<string>((resolve) => bob.once("disconnect", resolve));
      const delivered = nextEvent(bob, "message:new", (m) => m.content === "over REST");
      const sent = await call(first.url, "POST", `/api/conversations/${conversationId}/messages`, alice, { content: "over REST" });
      expect(sent.status).toBe(201);
      expect((await delivered).id).toBe(sent.body.id);
      // Search folds accents with the unaccent extension, which the binary carries for PGlite.
      const searchAccents = async (base: string) => (await call(base, "GET", "/api/search/messages?q=CREME%20brul", alice)).body;
      expect((await call(first.url, "POST", `/api/conversations/${conversationId}/messages`, alice, { content: "Crème brûlée" })).status).toBe(201);
      expect((await searchAccents(first.url)).data.map((m: { content: string }) => m.content)).toEqual(["Crème brûlée"]);

      const metrics = parsePrometheus(await (await fetch(`${first.url}/metrics`)).text());
      expect(total(metrics, "chat_messages_sent_total")).toBeGreaterThanOrEqual(1);
      expect(total(metrics, "chat_socket_connections")).toBe(1);
      expect(has(metrics, "chat_message_fanout_seconds_count")).toBe(true);
      const openapi = (await (await fetch(`${first.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
      expect(Object.keys(openapi.paths)).toContain("/api/conversations/{id}/messages");

      // Sends from three sockets and two REST loops; SIGTERM lands in the middle of them.
      const acked = new Map<string, number>();
      let refused = 0;
      let stop = false;
      const senders: ClientSocket[] = [];
      for (let i = 0; i < 3; i++) senders.push((await connectSocket(first.wsUrl, aliceToken, { reconnection: false })).socket);
      const socketLoop = async (socket: ClientSocket, n: number) => {
        for (let k = 0; !stop && socket.connected; k++) {
          try {
            const res = await (socket as any).timeout(8000).emitWithAck("message:send", { conversationId, content: `socket ${n}/${k}`, clientMessageId: `s${n}-${k}` });
            if (res.ok) acked.set(res.data.id, res.data.seq);
            else refused++;
          } catch {
            return; // no ack before the transport closed: the client would retry elsewhere
          }
        }
      };
      const restLoop = async (n: number) => {
        for (let k = 0; !stop; k++) {
          try {
            const res = await call(first.url, "POST", `/api/conversations/${conversationId}/messages`, alice, { content: `rest ${n}/${k}`, clientMessageId: `r${n}-${k}` });
            if (res.status === 201) acked.set(res.body.id, res.body.seq);
            else refused++;
          } catch {
            return; // connection refused: the listener is closed
          }
        }
      };
      const loops = [...senders.map(socketLoop), restLoop(1), restLoop(2)];
      while (acked.size < 40) await Bun.sleep(10);
      const senderDisconnects = senders.map((s) => new Promise<string>((resolve) => s.once("disconnect", resolve)));
      first.kill("SIGTERM");
      expect(await first.exited).toBe(0);
      running = undefined;
      stop = true;
      await Promise.all(loops);
      // A closed transport, not "io server disconnect": socket.io-client reconnects by itself.
      expect(await bobDisconnect).toBe("transport close");
      for (const reason of await Promise.all(senderDisconnects)) expect(reason).toBe("transport close");

      const logs = first.logs();
      expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(["listening", "shutting down", "stopped"]));
      expect(logs.filter((l) => l.level === "error")).toEqual([]);
      for (const line of logs.filter((l) => l.msg === "request")) expect(line.requestId).toEqual(expect.any(String));
      const everything = first.output.join("\n");
      for (const secret of [JWT_SECRET, INTERNAL_SECRET, aliceToken, bobToken]) expect(everything).not.toContain(secret);

      // Restarted on the same storage: every acknowledged message is there.
      const second = await startBinary(binary, dir, env);
      running = second;
      await waitFor200(`${second.url}/ready`);
      const stored = await allMessages(second.url, alice, conversationId);
      const storedIds = new Set(stored.map((m) => m.id));
      const lost = [...acked.keys()].filter((id) => !storedIds.has(id));
      expect(lost).toEqual([]);
      expect(acked.size).toBeGreaterThanOrEqual(40);
      expect(stored.map((m) => m.seq)).toEqual(stored.map((_, i) => i + 1));
      expect((await searchAccents(second.url)).data).toHaveLength(1);
      second.kill("SIGTERM");
      expect(await second.exited).toBe(0);
      running = undefined;
      console.log(`binary (${postgres ? "postgres" : "pglite"}): ${acked.size} acked before exit, ${refused} refused while draining, ${stored.length} stored`);
    },
    120_000,
  );
});

test("with Redis unreachable the binary stays alive but not ready, says so in its logs, and still stops with exit 0", async () => {
  const { dir, binary, cleanup } = isolatedBinary();
  cleanups.push(cleanup);
  const env = binaryEnv({ DATA_DIR: "memory://", REDIS_URL: "redis://127.0.0.1:1", LOG_LEVEL: "info" });
  const running = await startBinary(binary, dir, env);
  cleanups.push(() => running.kill("SIGKILL"));
  expect((await fetch(`${running.url}/health`)).status).toBe(200);
  const ready = await fetch(`${running.url}/ready`);
  expect(ready.status).toBe(503);
  const body = (await ready.json()) as { error: { code: string; message: string; details: { checks: Record<string, string> } } };
  expect(body.error).toMatchObject({ code: "UNAVAILABLE", message: "Not ready: redis" });
  expect(body.error.details.checks).toMatchObject({ database: "ok", migrations: "ok", redis: expect.stringMatching(/^(unreachable|timeout)$/) });
  expect((await runBinary(binary, dir, ["healthcheck", "--ready"], { ...env, PORT: String(running.port) })).code).toBe(1);
  expect((await runBinary(binary, dir, ["healthcheck"], { ...env, PORT: String(running.port) })).code).toBe(0);
  const metrics = parsePrometheus(await (await fetch(`${running.url}/metrics`)).text());
  expect(total(metrics, "chat_redis_up")).toBe(0);
  running.kill("SIGTERM");
  expect(await running.exited).toBe(0);
  const logs = running.logs();
  // One structured line per client when it loses Redis, not ioredis' console noise per retry.
  expect(logs.filter((l) => l.msg === "redis unreachable; retrying").map((l) => l.client).sort()).toEqual(["adapter_pub", "adapter_sub", "store"]);
}, 60_000);
