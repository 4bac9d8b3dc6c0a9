/**
 * Pins over Socket.IO: `message:pin` / `message:unpin` ack the pin and the unpin the room hears,
 * `pins:list` pages as REST does, bad payloads change nothing, and the client SDK keeps its
 * messages' pins as the events come.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { type ChatClient, createChatClient } from "../../src/client";
import { call, callUntyped, connectAs, fence, group, makeUsers, ok } from "../helpers/realtime";
import { mintToken } from "../helpers/service";
import { eventually, nextEvent, record } from "../helpers/sockets";
import { serviceWithReceiver, WHSEC_SECRET } from "../webhooks/receiver";

const { svc } = serviceWithReceiver(WHSEC_SECRET);
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const clients: ChatClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

/** Owner ann, member bob, outsider eve: a socket each. */
async function team() {
  const [ann, bob, eve] = await makeUsers(svc, "ann", "bob", "eve");
  const conversationId = await group(svc, ann!, [bob!]);
  const sockets = { ann: await connectAs(svc.url, svc, ann!), bob: await connectAs(svc.wsUrl, svc, bob!), eve: await connectAs(svc.wsUrl, svc, eve!) };
  const message = await ok(sockets.bob, "message:send", { conversationId, content: "bob speaks" });
  return { ann: ann!, bob: bob!, eve: eve!, conversationId, sockets, message };
}

describe("message:pin and message:unpin", () => {
  test("ack the pin and the unpin; the other participants' sockets hear both", async () => {
    const { ann, conversationId, sockets, message } = await team();
    const pinnedHeard = nextEvent(sockets.bob, "message:pinned", (e) => e.messageId === message.id);
    const pinned = await ok(sockets.ann, "message:pin", { messageId: message.id });
    expect(pinned).toEqual({ messageId: message.id, conversationId, pinnedBy: ann, pinnedAt: expect.stringMatching(ISO) });
    expect(await pinnedHeard).toEqual({ conversationId, messageId: message.id, pinnedBy: ann, pinnedAt: pinned.pinnedAt });
    // Again: the same pin.
    expect(await ok(sockets.ann, "message:pin", { messageId: message.id })).toEqual(pinned);

    // Sync shows the pin on the message.
    const synced = await ok(sockets.bob, "messages:sync", { conversationId });
    expect(synced.messages.find((m) => m.id === message.id)).toMatchObject({ pinnedAt: pinned.pinnedAt, pinnedBy: ann });

    const listed = await ok(sockets.bob, "pins:list", { conversationId });
    expect(listed).toEqual({ data: [{ ...message, pinnedAt: pinned.pinnedAt, pinnedBy: ann }], hasMore: false, nextCursor: null });

    const unpinnedHeard = nextEvent(sockets.bob, "message:unpinned", (e) => e.messageId === message.id);
    const unpinned = await ok(sockets.ann, "message:unpin", { messageId: message.id });
    expect(unpinned).toEqual({ conversationId, messageId: message.id, unpinnedBy: ann, unpinnedAt: expect.stringMatching(ISO) });
    expect(await unpinnedHeard).toEqual(unpinned);
    expect((await ok(sockets.bob, "pins:list", { conversationId })).data).toEqual([]);
  });

  test("unpinning a message that is not pinned acks and announces nothing", async () => {
    const { ann, bob, conversationId, sockets, message } = await team();
    const heard = record(sockets.bob, "message:unpinned");
    const answer = await ok(sockets.ann, "message:unpin", { messageId: message.id });
    expect(answer).toMatchObject({ conversationId, messageId: message.id, unpinnedBy: ann });
    const wall = await fence(svc, [
      { userId: ann, socket: sockets.ann },
      { userId: bob, socket: sockets.bob },
    ]);
    await wall.pass();
    expect(heard).toEqual([]);
  });

  test("a member is refused FORBIDDEN, an outsider NOT_FOUND; nothing is pinned", async () => {
    const { conversationId, sockets, message } = await team();
    const refused = await call(sockets.bob, "message:pin", { messageId: message.id });
    expect(refused).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    expect(await call(sockets.eve, "message:pin", { messageId: message.id })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(sockets.eve, "message:unpin", { messageId: message.id })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(await call(sockets.eve, "pins:list", { conversationId })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect((await ok(sockets.ann, "pins:list", { conversationId })).data).toEqual([]);
  });

  test("malformed payloads are VALIDATION_ERROR and change nothing", async () => {
    const { conversationId, sockets, message } = await team();
    for (const event of ["message:pin", "message:unpin"]) {
      for (const payload of [{ messageId: "not-a-uuid" }, {}, { messageId: 42 }, "text", null, [message.id]]) {
        const res = await callUntyped(sockets.ann, event, payload);
        expect(res).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
      }
    }
    for (const payload of [{ conversationId: "nope" }, { conversationId, limit: 0 }, { conversationId, limit: 101 }, { conversationId, cursor: "garbage" }]) {
      expect(await callUntyped(sockets.ann, "pins:list", payload)).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    }
    // Without an ack the failure comes as an `error` event.
    const error = nextEvent(sockets.ann, "error");
    sockets.ann.emit("message:pin", { messageId: "not-a-uuid" });
    expect(await error).toMatchObject({ code: "VALIDATION_ERROR" });
    expect((await ok(sockets.ann, "pins:list", { conversationId })).data).toEqual([]);
    expect((await (await svc.as(message.senderId)).get(`/api/messages/${message.id}`)).body.pinnedAt).toBeNull();
  });

  test("a deleted message: pin is CONFLICT; deleting a pinned one sends message:unpinned to the room", async () => {
    const { ann, conversationId, sockets, message } = await team();
    const other = await ok(sockets.ann, "message:send", { conversationId, content: "to delete unpinned" });
    await ok(sockets.ann, "message:delete", { messageId: other.id });
    expect(await call(sockets.ann, "message:pin", { messageId: other.id })).toMatchObject({ ok: false, error: { code: "CONFLICT" } });

    await ok(sockets.ann, "message:pin", { messageId: message.id });
    const heard = nextEvent(sockets.bob, "message:unpinned", (e) => e.messageId === message.id);
    const deleted = await ok(sockets.ann, "message:delete", { messageId: message.id });
    expect(await heard).toEqual({ conversationId, messageId: message.id, unpinnedBy: ann, unpinnedAt: deleted.deletedAt });
  });
});

describe("client SDK", () => {
  function clientOf(userId: string) {
    const client = createChatClient({ url: svc.wsUrl, token: () => mintToken(userId), transports: ["websocket"] });
    clients.push(client);
    return client;
  }

  test("pin, unpin and pins(); held messages follow the room's pins and unpins", async () => {
    const { ann, bob, conversationId, sockets, message } = await team();
    const annClient = clientOf(ann);
    const bobClient = clientOf(bob);
    const annRoom = annClient.conversation(conversationId);
    const bobRoom = bobClient.conversation(conversationId);
    await eventually(() => annRoom.messages.length === 1 && bobRoom.messages.length === 1, 10_000, "both rooms synced");

    const pinned = await annRoom.pin(message.id);
    expect(annRoom.messages[0]).toMatchObject({ pinnedAt: pinned.pinnedAt, pinnedBy: ann });
    await eventually(() => bobRoom.messages[0]?.pinnedAt === pinned.pinnedAt, 5000, "bob's copy pinned");

    const page = await bobRoom.pins({ limit: 10 });
    expect(page.data.map((m) => m.id)).toEqual([message.id]);

    // A member may not pin: the SDK rejects with the service's code.
    await expect(bobRoom.pin(message.id)).rejects.toMatchObject({ code: "FORBIDDEN" });

    await annRoom.unpin(message.id);
    expect(annRoom.messages[0]).toMatchObject({ pinnedAt: null, pinnedBy: null });
    await eventually(() => bobRoom.messages[0]?.pinnedAt === null, 5000, "bob's copy unpinned");

    // Pinned again from elsewhere (a plain socket): the SDK hears it.
    await ok(sockets.ann, "message:pin", { messageId: message.id });
    await eventually(() => bobRoom.messages[0]?.pinnedBy === ann, 5000, "bob's copy pinned again");
  });
});
