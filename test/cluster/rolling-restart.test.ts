/**
 * A rolling restart under traffic: three instances behind HAProxy, each stopped with SIGTERM and
 * started again in turn while websocket and polling clients keep sending through the balancer.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { type Balancer, startBalancer } from "../helpers/haproxy";
import { type Cluster, type Instance, startCluster } from "../helpers/instances";
import { call } from "../helpers/realtime";
import { INTERNAL_SECRET, mintToken, sendRequest } from "../helpers/service";
import { type ClientSocket, closeAllSockets, connectSocket, eventually } from "../helpers/sockets";
import { type Receiver, startReceiver, WHSEC_SECRET } from "../webhooks/receiver";

let cluster: Cluster;
let instances: Instance[];
let balancer: Balancer;
let receiver: Receiver;
beforeAll(async () => {
  receiver = startReceiver(WHSEC_SECRET);
  cluster = await startCluster({
    DATABASE_POOL_SIZE: "3",
    RATE_LIMIT_MESSAGES: "100000",
    RATE_LIMIT_EVENTS: "100000",
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: WHSEC_SECRET,
    WEBHOOK_DRAIN_INTERVAL_MS: "50",
  });
  instances = await Promise.all([cluster.start(), cluster.start(), cluster.start()]);
  balancer = await startBalancer(instances);
}, 90_000);
afterAll(async () => {
  closeAllSockets();
  await balancer?.stop();
  await cluster?.stop();
  receiver?.stop();
}, 60_000);

type Client = {
  userId: string;
  socket: ClientSocket;
  /** Message id by seq, from `message:new` and `messages:sync` alike. */
  bySeq: Map<number, string>;
  /** Every seq up to this one has been seen. */
  upTo: number;
  acked: string[];
  disconnects: string[];
  connections: number;
  syncs: number;
};

const host = async (method: string, path: string, body?: unknown, userId?: string) =>
  sendRequest(balancer.hostUrl, method, path, { body, headers: userId ? { authorization: `Bearer ${await mintToken(userId)}` } : { "x-internal-secret": INTERNAL_SECRET } });

function see(client: Client, message: { id: string; seq: number }) {
  client.bySeq.set(message.seq, message.id);
  while (client.bySeq.has(client.upTo + 1)) client.upTo++;
}

/** What a client does on every reconnection: ask for what came after the last message it has. */
async function fillGap(client: Client, conversationId: string) {
  for (;;) {
    if (!client.socket.connected) return;
    const lastMessageId = client.bySeq.get(client.upTo);
    const res = await call(client.socket, "messages:sync", { conversationId, ...(lastMessageId ? { lastMessageId } : {}) }).catch(() => undefined);
    if (!res?.ok) {
      await Bun.sleep(100);
      continue;
    }
    for (const message of res.data.messages) see(client, message);
    client.syncs++;
    if (!res.data.hasMore) return;
  }
}

/** Sends one message after another; a send that fails is sent again with its clientMessageId. */
async function sendUntil(client: Client, conversationId: string, running: () => boolean) {
  for (let n = 0; running(); ) {
    if (!client.socket.connected) {
      await Bun.sleep(20);
      continue;
    }
    const payload = { conversationId, content: `${client.userId} ${n}`, clientMessageId: `${client.userId}-${n}` };
    const res = await call(client.socket, "message:send", payload).catch(() => undefined);
    if (res?.ok) {
      client.acked.push(res.data.id);
      n++;
      await Bun.sleep(30);
    } else {
      // UNAVAILABLE from a stopping instance, or no ack before the transport closed: retry.
      if (res && res.error.code !== "UNAVAILABLE") throw new Error(`send refused: ${JSON.stringify(res.error)}`);
      await Bun.sleep(50);
    }
  }
}

test("SIGTERM to each instance in turn under traffic: nothing acknowledged is lost, clients reconnect and resync, webhooks keep flowing", async () => {
  const tag = Date.now().toString(36);
  const userIds = ["ws1", "ws2", "ws3", "poll1", "poll2", "poll3"].map((n) => `${n}-${tag}`);
  expect((await host("POST", "/api/users/sync/batch", { users: userIds.map((externalUserId) => ({ externalUserId })) })).status).toBe(200);
  const created = await host("POST", "/api/conversations", { type: "group", participantIds: userIds.slice(1), name: "rolling" }, userIds[0]);
  const conversationId: string = created.body.id;

  const clients: Client[] = [];
  for (const userId of userIds) {
    const polling = userId.startsWith("poll");
    const { socket } = await connectSocket(balancer.browserUrl, await mintToken(userId), {
      transports: polling ? ["polling"] : ["websocket"],
      withCredentials: true,
      reconnection: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 500,
      randomizationFactor: 0.5,
    });
    const client: Client = { userId, socket, bySeq: new Map(), upTo: 0, acked: [], disconnects: [], connections: 1, syncs: 0 };
    socket.on("message:new", (message: any) => message.conversationId === conversationId && see(client, message));
    socket.on("disconnect", (reason) => client.disconnects.push(reason));
    // `connected` comes once the socket is back in its rooms: from then on nothing is missed.
    (socket as unknown as Socket).on("connected", () => {
      client.connections++;
      void fillGap(client, conversationId);
    });
    clients.push(client);
  }

  let running = true;
  const senders = clients.map((client) => sendUntil(client, conversationId, () => running));
  await Bun.sleep(1000);
  const deliveredBefore = receiver.acceptedOf("message.created").length;
  const restartsBegan = Date.now();
  for (const [i, instance] of instances.entries()) {
    instance.stop();
    expect(await instance.exited).toBe(0);
    expect(instance.output()).not.toContain('"level":"error"');
    instances[i] = await cluster.start({ PORT: String(instance.port), WS_PORT: String(instance.wsPort) });
    await balancer.waitFor("UP", `chat${i + 1}`);
    await Bun.sleep(500);
  }
  const restartsEnded = Date.now();
  await Bun.sleep(1000);
  running = false;
  await Promise.all(senders);

  const acked = clients.flatMap((c) => c.acked);
  // Newest page first, then older ones.
  const stored: { id: string; seq: number }[] = [];
  for (let before: string | undefined; ; ) {
    const page = await host("GET", `/api/conversations/${conversationId}/messages?limit=100${before ? `&before=${before}` : ""}`, undefined, userIds[0]);
    stored.unshift(...page.body.data);
    if (!page.body.hasMore) break;
    before = page.body.data[0].id;
  }
  // Everything acknowledged is stored, once, in a gapless sequence.
  expect(new Set(stored.map((m) => m.id))).toEqual(new Set(acked));
  expect(stored.map((m) => m.seq)).toEqual(stored.map((_, i) => i + 1));
  expect(acked.length).toBeGreaterThan(100);

  for (const client of clients) {
    expect(client.disconnects).not.toContain("io server disconnect");
    expect(client.disconnects.length).toBeGreaterThan(0);
    expect(client.connections).toBeGreaterThan(client.disconnects.length);
    expect(client.syncs).toBeGreaterThan(0);
  }
  // Each client ends with every message, from live events and its syncs after reconnecting.
  await eventually(() => clients.every((c) => c.upTo === stored.length), 10_000, "every client has every message");

  // The outbox kept draining through the restarts, and every message's webhook went out.
  const during = receiver.acceptedOf("message.created").filter((d) => d.receivedAt > restartsBegan && d.receivedAt < restartsEnded);
  expect(during.length).toBeGreaterThan(0);
  expect(receiver.acceptedOf("message.created").length).toBeGreaterThan(deliveredBefore);
  await eventually(
    () => {
      const delivered = new Set(receiver.acceptedOf("message.created").map((d) => d.payload.data.id));
      return acked.every((id) => delivered.has(id));
    },
    20_000,
    "a webhook for every acknowledged message",
  );
}, 180_000);
