import { expect, test } from "bun:test";
import { internal, restAs, startInstance } from "../helpers/instances";
import { eventually } from "../helpers/sockets";
import { Ledger, type Outcome } from "./ledger";
import { teardown, UNLIMITED } from "./scene";
import { storageForMode } from "./storage";

const scene = teardown();

test("kill -9 during a burst of socket and REST sends: every acked message stored once, seqs gapless, retries never duplicate", async () => {
  const storage = await storageForMode();
  scene.later(() => storage.drop());
  const instance = await startInstance({ ...storage.env, ...UNLIMITED });
  scene.later(() => instance.stop());
  expect((await internal(instance, "POST", "/api/users/sync/batch", { users: [{ externalUserId: "ann" }, { externalUserId: "bob" }] })).status).toBe(200);
  const ann = await restAs(instance, "ann");
  const { id: conversationId } = (await ann.post("/api/conversations", { type: "group", participantIds: ["bob"] })).body;
  const ledger = new Ledger(conversationId);
  const socket = await scene.socketOn(instance, "ann");

  // Sends keep going, a few in flight on each path, until the process dies under them.
  let dead = false;
  const flow = async (lane: string, send: (id: string) => Promise<Outcome>) => {
    for (let i = 0; !dead; i++) {
      const outcome = await send(`${lane}-${i}`);
      expect(outcome === "acked" || (dead && outcome === "unanswered")).toBe(true);
    }
  };
  const lanes = [
    ...Array.from({ length: 4 }, (_, n) => flow(`socket${n}`, (id) => ledger.viaSocket(socket, id))),
    ...Array.from({ length: 4 }, (_, n) => flow(`rest${n}`, (id) => ledger.viaRest(ann, id))),
  ];
  await eventually(() => ledger.acked.size >= 100, 30_000, "100 sends acked");
  dead = true;
  await instance.crash();
  await Promise.all(lanes);
  const unacked = ledger.pending().length;
  expect(unacked).toBeGreaterThan(0);

  await instance.restart();
  // The client retries what was never acked, and a few acked sends, on both paths.
  const again = await scene.socketOn(instance, "ann");
  for (const id of [...ledger.acked.keys()].filter((id) => id.startsWith("socket")).slice(0, 5)) expect(await ledger.viaSocket(again, id)).toBe("acked");
  await ledger.retryAll(await restAs(instance, "ann"));
  expect(ledger.pending()).toEqual([]);
  const stored = await ledger.verify(instance, "ann");
  expect(stored.length).toBe(ledger.sent.size);
}, 90_000);
