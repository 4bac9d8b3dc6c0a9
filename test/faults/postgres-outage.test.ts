import { expect, test } from "bun:test";
import { ACK_TIMEOUT_MS } from "../../src/client";
import { internal, restAs, startInstance } from "../helpers/instances";
import { createDatabase } from "../helpers/postgres";
import { startPostgres } from "../helpers/servers";
import { eventually } from "../helpers/sockets";
import { Ledger, type Outcome } from "./ledger";
import { teardown, UNLIMITED } from "./scene";

const OUTAGE_MS = 5000;
const scene = teardown();

test("PostgreSQL stopped for 5 s under traffic: no crash, writes 503 (never 400), back on its own, no acked message lost", async () => {
  // A server of this test's own, which it can stop without touching anyone else's.
  const server = await startPostgres();
  scene.later(() => server.destroy());
  const database = await createDatabase(server.url);
  const instance = await startInstance({ DATABASE_URL: database.url, ...UNLIMITED });
  scene.later(() => instance.stop());
  const pid = instance.pid;
  expect((await internal(instance, "POST", "/api/users/sync/batch", { users: [{ externalUserId: "ann" }, { externalUserId: "bob" }] })).status).toBe(200);
  const ann = await restAs(instance, "ann");
  const { id: conversationId } = (await ann.post("/api/conversations", { type: "group", participantIds: ["bob"] })).body;
  const ledger = new Ledger(conversationId);
  const socket = await scene.socketOn(instance, "ann");

  // Sends go on all along; each is acked or refused with UNAVAILABLE (the ledger checks that).
  let stopped = false;
  const outcomes: Outcome[] = [];
  const flow = async (lane: string, send: (id: string) => Promise<Outcome>) => {
    for (let i = 0; !stopped; i++) {
      const outcome = await send(`${lane}-${i}`);
      outcomes.push(outcome);
      if (outcome !== "acked") await Bun.sleep(50);
    }
  };
  // A socket send is given the SDK's ack timeout (10 s). A connection attempt that reaches the
  // server while it starts again can go unanswered until the pool's connect_timeout (5 s), and the
  // sends of that statement are answered only then: 5.5 s after they were made, in one run seen.
  const viaSocket = (id: string) => ledger.viaSocket(socket, id, ACK_TIMEOUT_MS);
  const lanes = [flow("socket0", viaSocket), flow("socket1", viaSocket), flow("rest0", (id) => ledger.viaRest(ann, id)), flow("rest1", (id) => ledger.viaRest(ann, id))];
  await eventually(() => ledger.acked.size >= 20, 10_000, "sends acked before the outage");

  await server.stop();
  const ackedBefore = ledger.acked.size;
  await Bun.sleep(OUTAGE_MS / 2);
  // Mid-outage: the process serves, says it is not ready, and refuses work it cannot do.
  expect((await fetch(`${instance.url}/health`)).status).toBe(200);
  expect((await fetch(`${instance.url}/ready`)).status).toBe(503);
  expect((await ann.get(`/api/conversations/${conversationId}/messages`)).status).toBe(503);
  await Bun.sleep(OUTAGE_MS / 2);
  expect(outcomes).toContain("unavailable");
  await server.start();

  // Back on its own: sends are acked again without a restart.
  await eventually(() => ledger.acked.size >= ackedBefore + 20, 20_000, "sends acked after the outage");
  stopped = true;
  await Promise.all(lanes);
  expect(outcomes).not.toContain("unanswered");
  expect(instance.pid).toBe(pid);
  // Ready again on its own too. Its probe gives the database 800 ms, and a pool connection still
  // in its reconnect backoff can take longer right after the server is back: a moment, not a state.
  await eventually(async () => (await fetch(`${instance.url}/ready`)).status === 200, 10_000, "ready again");
  expect(instance.output()).not.toContain("unhandled rejection");

  await ledger.retryAll(ann);
  const stored = await ledger.verify(instance, "ann");
  expect(stored.length).toBe(ledger.sent.size);
}, 90_000);
