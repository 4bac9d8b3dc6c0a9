import { expect, test } from "bun:test";
import { internal, restAs, startCluster } from "../helpers/instances";
import { eventually } from "../helpers/sockets";
import { startReceiver, WHSEC_SECRET } from "../webhooks/receiver";
import { Ledger } from "./ledger";
import { teardown, UNLIMITED } from "./scene";

const scene = teardown();

type Message = { id: string; seq: number; clientMessageId: string | null };

test("two instances, one killed: its sockets go to the other and sync every gap; its outbox events are delivered by the survivor", async () => {
  // The receiver is down at first, so that the outbox holds events of both instances when one dies.
  const receiver = startReceiver(WHSEC_SECRET);
  receiver.pause();
  scene.later(() => receiver.stop());
  const cluster = await startCluster({
    ...UNLIMITED,
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: WHSEC_SECRET,
    WEBHOOK_TIMEOUT_MS: "1000",
    WEBHOOK_BACKOFF_BASE_MS: "100",
    WEBHOOK_BACKOFF_MAX_MS: "500",
    WEBHOOK_DRAIN_INTERVAL_MS: "50",
  });
  scene.later(() => cluster.stop());
  const [doomed, survivor] = await Promise.all([cluster.start(), cluster.start()]);
  expect((await internal(doomed!, "POST", "/api/users/sync/batch", { users: [{ externalUserId: "ann" }, { externalUserId: "bob" }] })).status).toBe(200);
  const annOnDoomed = await restAs(doomed!, "ann");
  const annOnSurvivor = await restAs(survivor!, "ann");
  const { id: conversationId } = (await annOnDoomed.post("/api/conversations", { type: "group", participantIds: ["bob"] })).body;
  const ledger = new Ledger(conversationId);

  // Bob reads on the instance that will die; what reaches him is his view of the conversation.
  const bobSocket = await scene.socketOn(doomed!, "bob");
  const seen = new Map<number, Message>();
  bobSocket.on("message:new", (m: Message) => seen.set(m.seq, m));

  // Ann sends through both instances; one is killed under the sends, the other goes on for a while.
  let dead = false;
  let ackedAtDeath = Number.POSITIVE_INFINITY;
  const flow = async (lane: string, rest: typeof annOnDoomed, until: () => boolean) => {
    for (let i = 0; !until(); i++) await ledger.viaRest(rest, `${lane}-${i}`);
  };
  const lanes = [flow("doomed", annOnDoomed, () => dead), flow("survivor", annOnSurvivor, () => ledger.acked.size >= ackedAtDeath + 20)];
  await eventually(() => ledger.acked.size >= 40, 20_000, "sends acked by both instances");
  dead = true;
  const disconnected = new Promise((resolve) => bobSocket.once("disconnect", resolve));
  await doomed!.crash();
  ackedAtDeath = ledger.acked.size;
  await disconnected;
  await Promise.all(lanes);

  // Bob's client reconnects (to the survivor, as a load balancer would send it) and syncs from
  // the last message it saw: every gap is filled, in seq order.
  const again = await scene.socketOn(survivor!, "bob");
  again.on("message:new", (m: Message) => seen.set(m.seq, m));
  const lastSeen = Math.max(0, ...seen.keys());
  let lastMessageId = seen.get(lastSeen)?.id ?? null;
  for (;;) {
    const res = await again.timeout(5000).emitWithAck("messages:sync", { conversationId, lastMessageId });
    expect(res.ok).toBe(true);
    for (const m of res.data.messages as Message[]) seen.set(m.seq, m);
    if (!res.data.hasMore) break;
    lastMessageId = res.data.messages.at(-1).id;
  }
  await ledger.retryAll(annOnSurvivor);
  const stored = await ledger.verify(survivor!, "ann");
  // Sends retried after the sync reach Bob's new socket as message:new.
  await eventually(() => seen.size >= stored.length, 5000, "bob has every message");
  expect([...seen.keys()].sort((x, y) => x - y)).toEqual(stored.map((m) => m.seq));
  expect(stored.some((m) => m.clientMessageId?.startsWith("doomed"))).toBe(true);

  // The receiver is back: the survivor delivers every message's event, the dead instance's included.
  receiver.resume();
  const expected = new Set(stored.map((m) => m.id));
  await eventually(() => new Set(receiver.acceptedOf("message.created").map((d) => d.payload.data.id)).size >= expected.size, 30_000, "every message.created delivered");
  const delivered = new Set(receiver.acceptedOf("message.created").map((d) => d.payload.data.id));
  expect([...expected].filter((id) => !delivered.has(id))).toEqual([]);
  expect(receiver.deliveries.every((d) => d.verifyError === null)).toBe(true);
}, 120_000);
