import { beforeAll, describe, expect, test } from "bun:test";
import { notificationJobs, webhookEvents } from "../../src/core/db/schema";
import { connectAs, makeUsers } from "../helpers/realtime";
import type { ApiClient, TestService } from "../helpers/service";
import { eventually } from "../helpers/sockets";
import { scrape, total } from "../ops/prometheus";
import { type Delivery, type Receiver, serviceWithReceiver, WHSEC_SECRET } from "../webhooks/receiver";

const DELAY_MS = 1500;

/** The notification.message deliveries about one message (each attempt, in the order received). */
const notificationsOf = (receiver: Receiver, messageId: string): Delivery[] =>
  receiver.deliveries.filter((d) => d.payload.type === "notification.message" && d.payload.data.message.id === messageId);

/** Recipients of one message, over all its events, in user id order. */
const recipientsOf = (receiver: Receiver, messageId: string) =>
  receiver
    .acceptedOf("notification.message")
    .filter((d) => d.payload.data.message.id === messageId)
    .flatMap((d) => d.payload.data.recipients)
    .sort((a: { userId: string }, b: { userId: string }) => a.userId.localeCompare(b.userId));

async function waitOnline(svc: TestService, userId: string) {
  const viewer = await svc.as(userId);
  await eventually(async () => (await viewer.get(`/api/users/${userId}/presence`)).body.status === "online", 5000, `${userId} online`);
}

async function send(client: ApiClient, conversationId: string, content: string) {
  const res = await client.post(`/api/conversations/${conversationId}/messages`, { content });
  expect(res.status).toBe(201);
  return res.body as { id: string; seq: number; conversationId: string };
}

/** Every job worked out and every event written settled: nothing more can arrive. */
async function settled(svc: TestService) {
  await eventually(async () => (await svc.app.ctx.db.select().from(notificationJobs)).length === 0, 10000, "no jobs left");
  await eventually(async () => (await svc.app.ctx.db.select().from(webhookEvents)).every((e) => e.status === "delivered"), 15000, "every event delivered");
}

describe(`NOTIFY_DELAY_MS=${DELAY_MS}: recipients worked out once, after the delay`, () => {
  const { svc, receiver } = serviceWithReceiver(WHSEC_SECRET, { NOTIFY_DELAY_MS: String(DELAY_MS), WEBHOOK_BACKOFF_BASE_MS: "200" });

  test("offline participants who have not read it are listed once; the sender, the connected and those who read it are not", async () => {
    const [ann, bob, cid, dan, eve] = await makeUsers(svc, "ann", "bob", "cid", "dan", "eve");
    const [annApi, danApi, eveApi] = [await svc.as(ann!), await svc.as(dan!), await svc.as(eve!)];
    // Bob has one unread message elsewhere already: his badge counts it too.
    const direct = (await eveApi.post("/api/conversations", { type: "direct", participantIds: [bob] })).body.id;
    const elsewhere = await send(eveApi, direct, "earlier, elsewhere");
    const groupId = (await annApi.post("/api/conversations", { type: "group", participantIds: [bob, cid, dan, eve], name: "team" })).body.id;
    await connectAs(svc.wsUrl, svc, cid!);
    await waitOnline(svc, cid!);
    // The first attempt of each notification fails: the retry must carry the same body.
    receiver.behaviour = (d) => new Response(d.payload.type === "notification.message" && d.attempt === 0 ? "busy" : "ok", { status: d.payload.type === "notification.message" && d.attempt === 0 ? 500 : 200 });

    const sentAt = Date.now();
    const message = await send(annApi, groupId, "hello team");
    expect((await danApi.put(`/api/messages/${message.id}/read`)).status).toBe(200);

    await eventually(() => notificationsOf(receiver, message.id).some((d) => d.answered === 200), 15000, "the notification accepted");
    const attempts = notificationsOf(receiver, message.id);
    expect(attempts.length).toBe(2);
    expect(attempts[0]!.answered).toBe(500);
    expect(attempts[1]!.payload.id).toBe(attempts[0]!.payload.id);
    expect(attempts[1]!.body).toBe(attempts[0]!.body);
    expect(attempts.every((d) => d.verifyError === null)).toBe(true);
    // Not before the delay: whoever read it or came online meanwhile had the time to.
    expect(attempts[0]!.receivedAt - sentAt).toBeGreaterThanOrEqual(DELAY_MS - 50);

    const stored = (await annApi.get(`/api/messages/${message.id}`)).body;
    expect(attempts[0]!.payload.data).toEqual({
      message: stored,
      recipients: [
        { userId: bob, mentioned: false, unreadCount: 2, unreadMentionCount: 0 },
        { userId: eve, mentioned: false, unreadCount: 1, unreadMentionCount: 0 },
      ],
    });
    // The direct message was Bob's own notification, and only his.
    expect(recipientsOf(receiver, elsewhere.id).map((r: { userId: string }) => r.userId)).toEqual([bob!]);

    await settled(svc);
    expect(notificationsOf(receiver, message.id).length).toBe(2);
    const metrics = await scrape(svc.url);
    expect(total(metrics, "chat_notification_jobs_total")).toBeGreaterThanOrEqual(2);
    expect(total(metrics, "chat_notification_recipients_total")).toBeGreaterThanOrEqual(3);
    expect(total(metrics, "chat_notification_lag_seconds_count")).toBeGreaterThanOrEqual(2);
    receiver.behaviour = () => new Response("ok");
  }, 40000);

  test("no recipients, no event: everyone else connected, or the message deleted before the delay", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const annApi = await svc.as(ann!);
    const direct = (await annApi.post("/api/conversations", { type: "direct", participantIds: [bob] })).body.id;
    const bobSocket = await connectAs(svc.wsUrl, svc, bob!);
    await waitOnline(svc, bob!);
    const seenOnline = await send(annApi, direct, "you are here");
    await settled(svc);
    bobSocket.disconnect();
    await eventually(async () => (await annApi.get(`/api/users/${bob}/presence`)).body.status === "offline", 5000, "bob offline");
    const deleted = await send(annApi, direct, "never mind");
    expect((await annApi.delete(`/api/messages/${deleted.id}`)).status).toBe(204);
    const kept = await send(annApi, direct, "still here");

    await eventually(() => recipientsOf(receiver, kept.id).length === 1, 15000, "the kept message notified");
    await settled(svc);
    expect(notificationsOf(receiver, seenOnline.id)).toEqual([]);
    expect(notificationsOf(receiver, deleted.id)).toEqual([]);
    // "you are here" was seen live but never marked read: it still counts on his badge.
    expect(recipientsOf(receiver, kept.id)).toEqual([{ userId: bob, mentioned: false, unreadCount: 2, unreadMentionCount: 0 }]);
  }, 40000);

  test("a refused send schedules nothing", async () => {
    const [ann, bob, eve] = await makeUsers(svc, "ann", "bob", "eve");
    const direct = (await (await svc.as(ann!)).post("/api/conversations", { type: "direct", participantIds: [bob] })).body.id;
    await settled(svc);
    const before = receiver.deliveries.length;
    const refused = await (await svc.as(eve!)).post(`/api/conversations/${direct}/messages`, { content: "let me in" });
    expect(refused.status).toBe(404);
    expect(await svc.app.ctx.db.select().from(notificationJobs)).toEqual([]);
    await Bun.sleep(DELAY_MS + 300);
    expect(receiver.deliveries.slice(before)).toEqual([]);
  }, 20000);
});

describe("a group larger than PRESENCE_MAX_ROOM_SIZE", () => {
  const { svc, receiver } = serviceWithReceiver(WHSEC_SECRET, { PRESENCE_MAX_ROOM_SIZE: "3" });

  test("notifies nobody who is not mentioned", async () => {
    const [ann, ...others] = await makeUsers(svc, "ann", "bob", "cid", "dan");
    const annApi = await svc.as(ann!);
    const crowded = (await annApi.post("/api/conversations", { type: "group", participantIds: others, name: "crowd" })).body.id;
    const small = (await annApi.post("/api/conversations", { type: "group", participantIds: others.slice(0, 2), name: "few" })).body.id;
    const unheard = await send(annApi, crowded, "to the crowd");
    const heard = await send(annApi, small, "to the few");
    await eventually(() => recipientsOf(receiver, heard.id).length === 2, 15000, "the small group notified");
    await settled(svc);
    expect(notificationsOf(receiver, unheard.id)).toEqual([]);
  }, 30000);
});

describe("a 2,501-member group with PRESENCE_MAX_ROOM_SIZE above it", () => {
  const { svc, receiver } = serviceWithReceiver(WHSEC_SECRET, { PRESENCE_MAX_ROOM_SIZE: "3000" });
  let owner: string;
  let members: string[];
  let groupId: string;

  beforeAll(async () => {
    const stamp = Date.now().toString(36);
    owner = `owner-${stamp}`;
    members = Array.from({ length: 2500 }, (_, i) => `m${String(i).padStart(4, "0")}-${stamp}`);
    for (const ids of [[owner, ...members.slice(0, 999)], members.slice(999, 1999), members.slice(1999)]) await svc.syncUsers(...ids);
    const ownerApi = await svc.as(owner);
    groupId = (await ownerApi.post("/api/conversations", { type: "group", participantIds: members.slice(0, 1000), name: "all hands" })).body.id;
    for (const ids of [members.slice(1000, 2000), members.slice(2000)]) {
      expect((await ownerApi.post(`/api/conversations/${groupId}/participants`, { userIds: ids })).status).toBe(200);
    }
  }, 120000);

  test("its 2,500 recipients come in three events of 1,000, 1,000 and 500", async () => {
    const message = await send(await svc.as(owner), groupId, "all hands at noon");
    await eventually(() => recipientsOf(receiver, message.id).length === 2500, 30000, "2,500 recipients");
    await settled(svc);
    const events = receiver.acceptedOf("notification.message").filter((d) => d.payload.data.message.id === message.id);
    expect(events.map((d) => d.payload.data.recipients.length).sort((a, b) => b - a)).toEqual([1000, 1000, 500]);
    expect(new Set(events.map((d) => d.payload.id)).size).toBe(3);
    const listed = recipientsOf(receiver, message.id);
    expect(listed.map((r: { userId: string }) => r.userId)).toEqual(members);
    expect(listed.every((r: { mentioned: boolean; unreadCount: number }) => !r.mentioned && r.unreadCount === 1)).toBe(true);
  }, 90000);
});
