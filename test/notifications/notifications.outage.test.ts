import { afterAll, expect, test } from "bun:test";
import { notificationJobs } from "../../src/core/db/schema";
import { makeUsers } from "../helpers/realtime";
import { startRedis } from "../helpers/servers";
import { startService, type TestService } from "../helpers/service";
import { eventually } from "../helpers/sockets";
import { startReceiver, WHSEC_SECRET } from "../webhooks/receiver";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const notifiedAbout = (deliveries: { payload: { type: string; data: any } }[], messageId: string) =>
  deliveries.filter((d) => d.payload.type === "notification.message" && d.payload.data.message.id === messageId);

test("while the presence store is unreachable nobody can tell who is away: the jobs wait, and are worked out once it is back", async () => {
  // A Redis of this test's own, which it can stop; the database stays up.
  const redis = await startRedis();
  cleanups.push(() => redis.destroy());
  const receiver = startReceiver(WHSEC_SECRET);
  cleanups.push(() => receiver.stop());
  const svc: TestService = await startService({ REDIS_URL: redis.url, WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: WHSEC_SECRET, WEBHOOK_DRAIN_INTERVAL_MS: "50" });
  cleanups.push(() => svc.stop());
  const [ann, bob] = await makeUsers(svc, "ann", "bob");
  const annApi = await svc.as(ann!);
  const direct = (await annApi.post("/api/conversations", { type: "direct", participantIds: [bob] })).body.id;

  await redis.stop();
  await eventually(() => !svc.app.ctx.store.ready, 5000, "the store to notice");
  const sent = await annApi.post(`/api/conversations/${direct}/messages`, { content: "while Redis is down" });
  expect(sent.status).toBe(201);
  await Bun.sleep(1000);
  expect(notifiedAbout(receiver.deliveries, sent.body.id)).toEqual([]);
  expect((await svc.app.ctx.db.select().from(notificationJobs)).map((j) => j.messageId)).toEqual([sent.body.id]);

  await redis.start();
  await eventually(() => notifiedAbout(receiver.accepted(), sent.body.id).length === 1, 20000, "the notification once Redis is back");
  expect(notifiedAbout(receiver.accepted(), sent.body.id)[0]!.payload.data.recipients).toEqual([{ userId: bob, mentioned: false, unreadCount: 1, unreadMentionCount: 0 }]);
  expect(await svc.app.ctx.db.select().from(notificationJobs)).toEqual([]);
}, 60000);

test("without WEBHOOK_URL a send records no notification job", async () => {
  const svc = await startService();
  cleanups.push(() => svc.stop());
  const [ann, bob] = await makeUsers(svc, "ann", "bob");
  const annApi = await svc.as(ann!);
  const direct = (await annApi.post("/api/conversations", { type: "direct", participantIds: [bob] })).body.id;
  expect((await annApi.post(`/api/conversations/${direct}/messages`, { content: "nobody is told" })).status).toBe(201);
  expect(svc.app.notifier).toBeUndefined();
  expect(await svc.app.ctx.db.select().from(notificationJobs)).toEqual([]);
});
