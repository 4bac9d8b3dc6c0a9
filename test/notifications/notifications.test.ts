import { beforeAll, describe, expect, test } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import { notificationJobs, webhookEvents } from "../../src/core/db/schema";
import { NotificationMessage } from "../../src/notifications/model";
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

    expect([...Value.Errors(NotificationMessage, attempts[0]!.payload.data)]).toEqual([]);
    const stored = (await annApi.get(`/api/messages/${message.id}`)).body;
    expect(attempts[0]!.payload.data).toEqual({
      message: stored,
      recipients: [
        { userId: bob, mentioned: false, unreadCount: 2, unreadMentionCount: 0 },
        { userId: eve, mentioned: false, unreadCount: 1, unreadMentionCount: 0 },
      ],
    });
    // The direct message was Bob's own notification, and only his (its retry may come a little later).
    await eventually(() => recipientsOf(receiver, elsewhere.id).length > 0, 10000, "the direct message's notification");
    expect(recipientsOf(receiver, elsewhere.id).map((r: { userId: string }) => r.userId)).toEqual([bob!]);

    await settled(svc);
    expect(notificationsOf(receiver, message.id).length).toBe(2);
    const metrics = await scrape(svc.url);
    expect(total(metrics, "chat_notification_jobs_total")).toBeGreaterThanOrEqual(2);
    expect(total(metrics, "chat_notification_recipients_total")).toBeGreaterThanOrEqual(3);
    expect(total(metrics, "chat_notification_lag_seconds_count")).toBeGreaterThanOrEqual(2);
    receiver.behaviour = () => new Response("ok");
  }, 40000);

  test("muted, blocking the sender, suspended or read: not listed; read then marked unread before the delay: listed", async () => {
    const [ann, bob, cid, dan, eve, fay, gus] = await makeUsers(svc, "ann", "bob", "cid", "dan", "eve", "fay", "gus");
    const annApi = await svc.as(ann!);
    const groupId = (await annApi.post("/api/conversations", { type: "group", participantIds: [bob, cid, dan, eve, fay, gus], name: "rules" })).body.id;
    expect((await svc.internal("POST", `/api/users/${gus}/suspend`, {})).status).toBe(200);
    const [cidApi, danApi, eveApi, fayApi] = [await svc.as(cid!), await svc.as(dan!), await svc.as(eve!), await svc.as(fay!)];
    expect((await cidApi.put(`/api/conversations/${groupId}/mute`, {})).status).toBe(200);
    expect((await danApi.put(`/api/me/blocks/${ann}`)).status).toBe(204);
    // A block of someone else, and a mute that was lifted, change nothing.
    expect((await eveApi.put(`/api/me/blocks/${cid}`)).status).toBe(204);
    expect((await fayApi.put(`/api/conversations/${groupId}/mute`, {})).status).toBe(200);
    expect((await fayApi.delete(`/api/conversations/${groupId}/mute`)).status).toBe(204);

    const message = await send(annApi, groupId, "who hears this?");
    // Eve reads it, then marks it unread again: her own marker is what counts.
    expect((await eveApi.put(`/api/messages/${message.id}/read`)).status).toBe(200);
    expect((await eveApi.put(`/api/conversations/${groupId}/unread`, { messageId: message.id })).status).toBe(200);
    // Fay reads it and stays so.
    expect((await fayApi.put(`/api/messages/${message.id}/read`)).status).toBe(200);

    await eventually(() => recipientsOf(receiver, message.id).length > 0, 15000, "the notification");
    await settled(svc);
    expect(recipientsOf(receiver, message.id)).toEqual([
      { userId: bob, mentioned: false, unreadCount: 1, unreadMentionCount: 0 },
      { userId: eve, mentioned: false, unreadCount: 1, unreadMentionCount: 0 },
    ]);
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

  test("notifies only those a message mentions, thread replies included", async () => {
    const [ann, bob, cid, dan] = await makeUsers(svc, "ann", "bob", "cid", "dan");
    const annApi = await svc.as(ann!);
    const crowded = (await annApi.post("/api/conversations", { type: "group", participantIds: [bob, cid, dan], name: "crowd" })).body.id;
    const small = (await annApi.post("/api/conversations", { type: "group", participantIds: [bob, cid], name: "few" })).body.id;
    const unheard = await send(annApi, crowded, "to the crowd");
    const mentioning = await annApi.post(`/api/conversations/${crowded}/messages`, { content: "cid, look", mentions: [cid] });
    expect(mentioning.status).toBe(201);
    // Bob has replied in the thread before: in a crowd that does not make him a recipient.
    expect((await (await svc.as(bob!)).post(`/api/conversations/${crowded}/messages`, { content: "first", parentId: unheard.id })).status).toBe(201);
    const reply = await annApi.post(`/api/conversations/${crowded}/messages`, { content: "dan, see above", parentId: unheard.id, mentions: [dan] });
    expect(reply.status).toBe(201);
    const heard = await send(annApi, small, "to the few");

    await eventually(() => recipientsOf(receiver, heard.id).length === 2, 15000, "the small group notified");
    await settled(svc);
    expect(notificationsOf(receiver, unheard.id)).toEqual([]);
    expect(recipientsOf(receiver, mentioning.body.id)).toEqual([{ userId: cid, mentioned: true, unreadCount: expect.any(Number), unreadMentionCount: 1 }]);
    expect(recipientsOf(receiver, reply.body.id)).toEqual([{ userId: dan, mentioned: true, unreadCount: expect.any(Number), unreadMentionCount: 1 }]);
  }, 30000);
});

describe("threads and mentions", () => {
  const { svc, receiver } = serviceWithReceiver(WHSEC_SECRET);
  const ids = (messageId: string) => recipientsOf(receiver, messageId).map((r: { userId: string; mentioned: boolean }) => [r.userId, r.mentioned]);

  test("a thread reply notifies the thread's author, its earlier repliers and those it mentions, nobody else", async () => {
    const [ann, bob, cid, dan, eve] = (await makeUsers(svc, "ann", "bob", "cid", "dan", "eve")) as [string, string, string, string, string];
    const api = { ann: await svc.as(ann!), bob: await svc.as(bob!), cid: await svc.as(cid!) };
    const groupId = (await api.ann.post("/api/conversations", { type: "group", participantIds: [bob, cid, dan, eve], name: "threads" })).body.id;
    const parent = await send(api.ann, groupId, "a topic");
    const reply = async (client: ApiClient, content: string, mentions?: string[]) => {
      const res = await client.post(`/api/conversations/${groupId}/messages`, { content, parentId: parent.id, mentions });
      expect(res.status).toBe(201);
      return res.body.id as string;
    };
    const first = await reply(api.bob, "first reply");
    const second = await reply(api.cid, "second reply, for eve", [eve]);
    const third = await reply(api.ann, "third reply");

    await eventually(() => [parent.id, first, second, third].every((id) => recipientsOf(receiver, id).length > 0), 15000, "every message notified");
    await settled(svc);
    expect(ids(parent.id)).toEqual([bob, cid, dan, eve].map((u) => [u, false]));
    expect(ids(first)).toEqual([[ann, false]]);
    expect(ids(second)).toEqual([[ann, false], [bob, false], [eve, true]]);
    // Eve was only mentioned: she is not in the thread. Dan never was.
    expect(ids(third)).toEqual([[bob, false], [cid, false]]);
  }, 30000);

  test("a mention is flagged, and the badge counts unread mentions over every conversation", async () => {
    const [ann, bob, cid] = await makeUsers(svc, "ann", "bob", "cid");
    const annApi = await svc.as(ann!);
    const one = (await annApi.post("/api/conversations", { type: "group", participantIds: [bob, cid], name: "one" })).body.id;
    const two = (await annApi.post("/api/conversations", { type: "group", participantIds: [bob, cid], name: "two" })).body.id;
    const earlier = await annApi.post(`/api/conversations/${one}/messages`, { content: "bob?", mentions: [bob] });
    await eventually(() => recipientsOf(receiver, earlier.body.id).length === 2, 15000, "the first notified");
    const later = await annApi.post(`/api/conversations/${two}/messages`, { content: "bob, again", mentions: [bob] });
    await eventually(() => recipientsOf(receiver, later.body.id).length === 2, 15000, "the second notified");
    expect(recipientsOf(receiver, later.body.id)).toEqual([
      { userId: bob, mentioned: true, unreadCount: 2, unreadMentionCount: 2 },
      { userId: cid, mentioned: false, unreadCount: 2, unreadMentionCount: 0 },
    ]);
    // The badge is GET /api/me/unread's.
    const totals = (await (await svc.as(bob!)).get("/api/me/unread")).body;
    expect(totals).toMatchObject({ unreadCount: 2, unreadMentionCount: 2 });
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
