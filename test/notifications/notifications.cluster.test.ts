import { afterAll, afterEach, expect, test } from "bun:test";
import { type Cluster, connectTo, groupOn, type Instance, restAs, startCluster, usersOn } from "../helpers/instances";
import { eventually } from "../helpers/sockets";
import { type Receiver, startReceiver, WHSEC_SECRET } from "../webhooks/receiver";

/** Everything a test started, torn down after it whatever happened. */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(env: Record<string, string> = {}): Promise<{ cluster: Cluster; receiver: Receiver }> {
  const receiver = startReceiver(WHSEC_SECRET);
  cleanups.push(() => receiver.stop());
  const cluster = await startCluster({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: WHSEC_SECRET, WEBHOOK_DRAIN_INTERVAL_MS: "50", ...env });
  cleanups.push(() => cluster.stop());
  return { cluster, receiver };
}

const recipientIds = (receiver: Receiver, messageId: string) =>
  receiver
    .acceptedOf("notification.message")
    .filter((d) => d.payload.data.message.id === messageId)
    .flatMap((d) => d.payload.data.recipients.map((r: { userId: string }) => r.userId))
    .sort();

async function send(on: Instance, userId: string, conversationId: string, content: string): Promise<string> {
  const res = await (await restAs(on, userId)).post(`/api/conversations/${conversationId}/messages`, { content });
  expect(res.status).toBe(201);
  return res.body.id;
}

test("a recipient connected to another instance is not notified; one connected nowhere is", async () => {
  const { cluster, receiver } = await setUp();
  const [a, b] = [await cluster.start(), await cluster.start()];
  const [ann, bob, cid] = await usersOn(a, "ann", "bob", "cid");
  const groupId = await groupOn(a, ann!, [bob!, cid!]);
  await connectTo(b, bob!);
  const annApi = await restAs(a, ann!);
  await eventually(async () => (await annApi.get(`/api/users/${bob}/presence`)).body.status === "online", 5000, "bob online");

  const messageId = await send(a, ann!, groupId, "who is around?");
  await eventually(() => recipientIds(receiver, messageId).length > 0, 15000, "the notification");
  await Bun.sleep(500); // a second event for the message would show up by now
  expect(recipientIds(receiver, messageId)).toEqual([cid!]);
  expect(receiver.acceptedOf("notification.message").filter((d) => d.payload.data.message.id === messageId).length).toBe(1);
}, 60000);

test("a send survives its instance: crashed or stopped before the delay, the next instance notifies it", async () => {
  const delay = 2000;
  const { cluster, receiver } = await setUp({ NOTIFY_DELAY_MS: String(delay) });
  const first = await cluster.start();
  const [ann, bob] = await usersOn(first, "ann", "bob");
  const groupId = await groupOn(first, ann!, [bob!]);
  const crashedWith = await send(first, ann!, groupId, "sent, then the instance crashed");
  await first.crash();

  const second = await cluster.start();
  const stoppedWith = await send(second, ann!, groupId, "sent, then the instance stopped");
  await second.stop();
  // Past both delays, with no instance running: nobody has worked them out yet.
  await Bun.sleep(delay + 500);
  expect(receiver.acceptedOf("notification.message")).toEqual([]);

  await cluster.start();
  await eventually(() => recipientIds(receiver, crashedWith).length > 0 && recipientIds(receiver, stoppedWith).length > 0, 20000, "both notified");
  expect(recipientIds(receiver, crashedWith)).toEqual([bob!]);
  expect(recipientIds(receiver, stoppedWith)).toEqual([bob!]);
}, 90000);
