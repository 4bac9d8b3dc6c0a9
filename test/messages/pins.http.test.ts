/**
 * Pins over REST: either side of a direct conversation, an owner or admin of a group, pins a
 * message; a conversation holds at most 50, even under concurrent pins; deleting a message unpins
 * it; every pin and unpin reaches the room and the outbox.
 */
import { describe, expect, test } from "bun:test";
import { and, eq, sql } from "drizzle-orm";
import { webhookEvents } from "../../src/core/db/schema";
import { connectAs, makeUsers } from "../helpers/realtime";
import type { ApiClient } from "../helpers/service";
import { nextEvent } from "../helpers/sockets";
import { serviceWithReceiver, WHSEC_SECRET } from "../webhooks/receiver";

const { svc } = serviceWithReceiver(WHSEC_SECRET);
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
}

/** A group: owner, admin, member bob; a removed participant; eve outside. */
async function team() {
  const [own, adm, bob, gone, eve] = await makeUsers(svc, "own", "adm", "bob", "gone", "eve");
  const owner = await svc.as(own!);
  const created = await owner.post("/api/conversations", { type: "group", participantIds: [adm, bob, gone], name: "team" });
  const id: string = created.body.id;
  expect((await owner.patch(`/api/conversations/${id}/participants/${adm}`, { role: "admin" })).status).toBe(200);
  expect((await owner.delete(`/api/conversations/${id}/participants/${gone}`)).status).toBe(204);
  return { own: own!, adm: adm!, bob: bob!, gone: gone!, eve: eve!, id, owner, admin: await svc.as(adm!), member: await svc.as(bob!) };
}

async function send(client: ApiClient, conversationId: string, content: string) {
  const res = await client.post(`/api/conversations/${conversationId}/messages`, { content });
  expect(res.status).toBe(201);
  return res.body as { id: string; seq: number };
}

/** The outbox rows of one type about one message, oldest first. */
async function outbox(type: string, messageId: string) {
  const rows = await svc.app.ctx.db
    .select()
    .from(webhookEvents)
    .where(and(eq(webhookEvents.type, type), sql`${webhookEvents.payload} -> 'data' ->> 'messageId' = ${messageId}`))
    .orderBy(webhookEvents.id);
  return rows.map((r) => r.payload.data);
}

const pinsOf = async (client: ApiClient, id: string, query = "") => (await client.get(`/api/conversations/${id}/pins${query}`)).body;

describe("pinning", () => {
  test("an owner pins: 200 with the pin, the message shows it, the room and the outbox hear of it", async () => {
    const { own, bob, id, owner, member } = await team();
    const message = await send(member, id, "pin me");
    const socket = await connectAs(svc.wsUrl, svc, bob);
    const heard = nextEvent(socket, "message:pinned", (e) => e.messageId === message.id);

    const res = await owner.post(`/api/messages/${message.id}/pin`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ messageId: message.id, conversationId: id, pinnedBy: own, pinnedAt: expect.stringMatching(ISO) });
    expect(await heard).toEqual({ conversationId: id, messageId: message.id, pinnedBy: own, pinnedAt: res.body.pinnedAt });
    expect(await outbox("message.pinned", message.id)).toEqual([{ conversationId: id, messageId: message.id, pinnedBy: own, pinnedAt: res.body.pinnedAt }]);

    const read = (await member.get(`/api/messages/${message.id}`)).body;
    expect(read).toMatchObject({ id: message.id, pinnedAt: res.body.pinnedAt, pinnedBy: own, isEdited: false });
    // Everywhere a Message is shown: the page, the search, the conversation's last message.
    expect((await member.get(`/api/conversations/${id}/messages`)).body.data.at(-1)).toEqual(read);
    expect((await member.get(`/api/search/messages?q=pin&conversationId=${id}`)).body.data).toEqual([read]);
    expect((await member.get(`/api/conversations/${id}`)).body.lastMessage).toEqual(read);
    expect(await pinsOf(member, id)).toEqual({ data: [read], hasMore: false, nextCursor: null });
  });

  test("pinning again answers the pin unchanged and announces nothing", async () => {
    const { id, owner, admin } = await team();
    const message = await send(owner, id, "once");
    const first = await owner.post(`/api/messages/${message.id}/pin`);
    const again = await admin.post(`/api/messages/${message.id}/pin`);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect((await outbox("message.pinned", message.id)).length).toBe(1);
  });

  test("an admin pins; a member is refused (403) and pins nothing", async () => {
    const { adm, id, owner, admin, member } = await team();
    const message = await send(owner, id, "who may");
    expectError(await member.post(`/api/messages/${message.id}/pin`), 403, "FORBIDDEN");
    expect((await member.get(`/api/messages/${message.id}`)).body.pinnedAt).toBeNull();
    expect((await admin.post(`/api/messages/${message.id}/pin`)).body.pinnedBy).toBe(adm);
    expectError(await member.delete(`/api/messages/${message.id}/pin`), 403, "FORBIDDEN");
    expect((await member.get(`/api/messages/${message.id}`)).body.pinnedBy).toBe(adm);
  });

  test("outsiders and removed participants get 404, deleted users 401 USER_NOT_FOUND; malformed ids 400", async () => {
    const { gone, eve, id, owner } = await team();
    const message = await send(owner, id, "private");
    for (const userId of [eve, gone]) {
      const client = await svc.as(userId);
      expectError(await client.post(`/api/messages/${message.id}/pin`), 404, "NOT_FOUND");
      expectError(await client.delete(`/api/messages/${message.id}/pin`), 404, "NOT_FOUND");
      expectError(await client.get(`/api/conversations/${id}/pins`), 404, "NOT_FOUND");
    }
    const [doomed] = await makeUsers(svc, "doomed");
    const doomedClient = await svc.as(doomed!);
    expect((await owner.post(`/api/conversations/${id}/participants`, { userIds: [doomed], role: "admin" })).status).toBe(200);
    expect((await svc.internal("DELETE", `/api/users/${doomed}`)).status).toBe(204);
    expectError(await doomedClient.post(`/api/messages/${message.id}/pin`), 401, "USER_NOT_FOUND");
    expectError(await doomedClient.get(`/api/conversations/${id}/pins`), 401, "USER_NOT_FOUND");

    expectError(await owner.post("/api/messages/not-a-uuid/pin"), 400, "VALIDATION_ERROR");
    expectError(await owner.delete("/api/messages/not-a-uuid/pin"), 400, "VALIDATION_ERROR");
    expectError(await owner.get("/api/conversations/not-a-uuid/pins"), 400, "VALIDATION_ERROR");
    expectError(await owner.post(`/api/messages/${crypto.randomUUID()}/pin`), 404, "NOT_FOUND");
    expectError(await owner.get(`/api/conversations/${id}/pins?cursor=nonsense`), 400, "VALIDATION_ERROR");
    expectError(await owner.get(`/api/conversations/${id}/pins?limit=0`), 400, "VALIDATION_ERROR");
    expect(await pinsOf(owner, id)).toEqual({ data: [], hasMore: false, nextCursor: null });
    expect(await outbox("message.pinned", message.id)).toEqual([]);
  });

  test("either side of a direct conversation pins and unpins, the blocked side too", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const a = await svc.as(ann!);
    const b = await svc.as(bob!);
    const id = (await a.post("/api/conversations", { type: "direct", participantIds: [bob] })).body.id;
    const mine = await send(a, id, "ann's");
    const theirs = await send(b, id, "bob's");
    expect((await b.post(`/api/messages/${mine.id}/pin`)).body.pinnedBy).toBe(bob);
    expect((await a.post(`/api/messages/${theirs.id}/pin`)).body.pinnedBy).toBe(ann);
    // Blocks refuse sending, editing, reacting, typing and recording; pins are shared bookkeeping.
    expect((await a.put(`/api/me/blocks/${bob}`)).status).toBe(204);
    expect((await b.delete(`/api/messages/${theirs.id}/pin`)).status).toBe(204);
    expect((await b.post(`/api/messages/${theirs.id}/pin`)).status).toBe(200);
    expect((await pinsOf(a, id)).data.map((m: any) => m.id)).toEqual([theirs.id, mine.id]);
  });
});

describe("unpinning", () => {
  test("204; the message shows no pin; the room and the outbox hear message:unpinned", async () => {
    const { own, adm, bob, id, owner, admin, member } = await team();
    const message = await send(owner, id, "for a while");
    await owner.post(`/api/messages/${message.id}/pin`);
    const socket = await connectAs(svc.wsUrl, svc, bob);
    const heard = nextEvent(socket, "message:unpinned", (e) => e.messageId === message.id);
    const res = await admin.delete(`/api/messages/${message.id}/pin`);
    expect(res.status).toBe(204);
    const unpinned = await heard;
    expect(unpinned).toEqual({ conversationId: id, messageId: message.id, unpinnedBy: adm, unpinnedAt: expect.stringMatching(ISO) });
    expect(await outbox("message.unpinned", message.id)).toEqual([unpinned]);
    expect((await member.get(`/api/messages/${message.id}`)).body).toMatchObject({ pinnedAt: null, pinnedBy: null });
    expect((await pinsOf(member, id)).data).toEqual([]);
    void own;
  });

  test("a message that is not pinned: 204 again, nothing announced", async () => {
    const { id, owner } = await team();
    const message = await send(owner, id, "never pinned");
    expect((await owner.delete(`/api/messages/${message.id}/pin`)).status).toBe(204);
    await owner.post(`/api/messages/${message.id}/pin`);
    expect((await owner.delete(`/api/messages/${message.id}/pin`)).status).toBe(204);
    expect((await owner.delete(`/api/messages/${message.id}/pin`)).status).toBe(204);
    expect((await outbox("message.unpinned", message.id)).length).toBe(1);
  });
});

describe("deleted messages", () => {
  test("deleting a pinned message unpins it, with message:unpinned and message.unpinned after message:deleted", async () => {
    const { own, bob, id, owner, member } = await team();
    const message = await send(member, id, "soon gone");
    await owner.post(`/api/messages/${message.id}/pin`);
    const socket = await connectAs(svc.wsUrl, svc, bob);
    const order: string[] = [];
    socket.on("message:deleted", () => order.push("deleted"));
    const heard = nextEvent(socket, "message:unpinned", (e) => e.messageId === message.id);
    socket.on("message:unpinned", () => order.push("unpinned"));
    expect((await owner.delete(`/api/messages/${message.id}`)).status).toBe(204);
    const deletedAt = (await member.get(`/api/messages/${message.id}`)).body.deletedAt;
    expect(await heard).toEqual({ conversationId: id, messageId: message.id, unpinnedBy: own, unpinnedAt: deletedAt });
    expect(order).toEqual(["deleted", "unpinned"]);
    expect(await outbox("message.unpinned", message.id)).toEqual([{ conversationId: id, messageId: message.id, unpinnedBy: own, unpinnedAt: deletedAt }]);
    expect((await member.get(`/api/messages/${message.id}`)).body).toMatchObject({ isDeleted: true, pinnedAt: null, pinnedBy: null });
    expect((await pinsOf(member, id)).data).toEqual([]);
  });

  test("a deleted message cannot be pinned (409); deleting one that was not pinned announces no unpin", async () => {
    const { id, owner } = await team();
    const message = await send(owner, id, "gone first");
    expect((await owner.delete(`/api/messages/${message.id}`)).status).toBe(204);
    expectError(await owner.post(`/api/messages/${message.id}/pin`), 409, "CONFLICT");
    expect((await owner.delete(`/api/messages/${message.id}/pin`)).status).toBe(204);
    expect(await outbox("message.unpinned", message.id)).toEqual([]);
    expect((await owner.get(`/api/messages/${message.id}`)).body.pinnedAt).toBeNull();
  });
});

describe("the cap of 50", () => {
  test("the 51st pin is 409 CONFLICT; unpinning one makes room", async () => {
    const { id, owner } = await team();
    const sent = [];
    for (let i = 0; i < 51; i++) sent.push(await send(owner, id, `m${i}`));
    for (const m of sent.slice(0, 50)) expect((await owner.post(`/api/messages/${m.id}/pin`)).status).toBe(200);
    expectError(await owner.post(`/api/messages/${sent[50]!.id}/pin`), 409, "CONFLICT");
    // Pinning one of the 50 again is still fine: it changes nothing.
    expect((await owner.post(`/api/messages/${sent[0]!.id}/pin`)).status).toBe(200);
    expect((await owner.delete(`/api/messages/${sent[0]!.id}/pin`)).status).toBe(204);
    expect((await owner.post(`/api/messages/${sent[50]!.id}/pin`)).status).toBe(200);
    expect((await pinsOf(owner, id, "?limit=100")).data.length).toBe(50);
  }, 60_000);

  test("two admins racing for the last places: exactly 50 end up pinned", async () => {
    const { id, owner, admin } = await team();
    const sent = [];
    for (let i = 0; i < 70; i++) sent.push(await send(owner, id, `r${i}`));
    for (const m of sent.slice(0, 46)) expect((await owner.post(`/api/messages/${m.id}/pin`)).status).toBe(200);
    await Bun.sleep(3);
    // 24 pins at once for four places, half by each admin.
    const racing = sent.slice(46);
    const results = await Promise.all(racing.map((m, i) => (i % 2 ? admin : owner).post(`/api/messages/${m.id}/pin`)));
    const won = racing.filter((_, i) => results[i]!.status === 200).map((m) => m.id);
    expect(won.length).toBe(4);
    for (const r of results) if (r.status !== 200) expectError(r, 409, "CONFLICT");
    const pins = await pinsOf(owner, id, "?limit=100");
    expect(pins.data.length).toBe(50);
    expect(pins.data.slice(0, 4).map((m: any) => m.id).sort()).toEqual(won.sort());
    for (const m of racing.filter((_, i) => results[i]!.status !== 200)) expect(await outbox("message.pinned", m.id)).toEqual([]);
  }, 60_000);
});

describe("the list of pins", () => {
  test("most recently pinned first, paged with limit and cursor", async () => {
    const { id, owner, member } = await team();
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await send(owner, id, `p${i}`));
    // Pinned in an order other than the messages' own.
    const order = [sent[2]!, sent[0]!, sent[4]!, sent[1]!, sent[3]!];
    for (const m of order) {
      expect((await owner.post(`/api/messages/${m.id}/pin`)).status).toBe(200);
      await Bun.sleep(3); // one pin per millisecond at most: the order under test is their times'
    }
    const newestFirst = order.toReversed().map((m) => m.id);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await pinsOf(member, id, `?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...page.data.map((m: any) => m.id));
      expect(page.hasMore).toBe(page.nextCursor !== null);
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(newestFirst);
    const all = await pinsOf(member, id);
    expect(all.data.map((m: any) => m.id)).toEqual(newestFirst);
    for (const m of all.data) expect(m).toEqual((await member.get(`/api/messages/${m.id}`)).body);
    const times = all.data.map((m: any) => m.pinnedAt);
    expect(times).toEqual(times.toSorted().toReversed());
  });
});
