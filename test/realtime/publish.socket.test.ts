import { describe, expect, test } from "bun:test";
import { connectAs, fence, group, makeUsers } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";
import { nextEvent, record } from "../helpers/sockets";

/**
 * Conversation-room events leave through Bun's native publish for websocket sockets and are
 * written one by one to sockets on long-polling: every member gets each event once, whatever its
 * transport and port, and room moves apply to both kinds.
 */
const svc = serviceForTests();

describe("room events on every transport", () => {
  test("websocket sockets on both ports and a long-polling socket each get a message once", async () => {
    const [ann, bob, cat] = await makeUsers(svc, "ann", "bob", "cat");
    const conversationId = await group(svc, ann!, [bob!, cat!]);
    const onPort = await connectAs(svc.url, svc, bob!, { transports: ["websocket"] });
    const onWsPort = await connectAs(svc.wsUrl, svc, bob!, { transports: ["websocket"] });
    const polling = await connectAs(svc.url, svc, cat!, { transports: ["polling"] });
    const seen = [onPort, onWsPort, polling].map((s) => record(s, "message:new"));

    const sent = await (await svc.as(ann!)).post(`/api/conversations/${conversationId}/messages`, { content: "to all" });
    expect(sent.status).toBe(201);
    const f = await fence(svc, [
      { userId: ann!, socket: await connectAs(svc.url, svc, ann!) },
      { userId: bob!, socket: onPort },
      { userId: bob!, socket: onWsPort },
      { userId: cat!, socket: polling },
    ]);
    await f.pass();
    for (const list of seen) expect(list.filter((m) => m.conversationId === conversationId).map((m) => m.content)).toEqual(["to all"]);
  });

  test("a socket that upgrades from polling to websocket keeps receiving, without duplicates", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const conversationId = await group(svc, ann!, [bob!]);
    const socket = await connectAs(svc.url, svc, bob!, { transports: ["polling", "websocket"] });
    const seen = record(socket, "message:new");
    const owner = await svc.as(ann!);
    if (socket.io.engine.transport.name !== "websocket") await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
    for (const content of ["one", "two", "three"]) {
      const arrived = nextEvent(socket, "message:new", (m: { content: string }) => m.content === content);
      await owner.post(`/api/conversations/${conversationId}/messages`, { content });
      await arrived;
    }
    expect(seen.map((m) => m.content)).toEqual(["one", "two", "three"]);
  });

  test("a removed participant's websocket and polling sockets stop receiving the room's events", async () => {
    const [ann, bob, cat] = await makeUsers(svc, "ann", "bob", "cat");
    const conversationId = await group(svc, ann!, [bob!, cat!]);
    const ws = await connectAs(svc.url, svc, bob!, { transports: ["websocket"] });
    const polling = await connectAs(svc.url, svc, bob!, { transports: ["polling"] });
    const owner = await svc.as(ann!);
    const removed = [ws, polling].map((s) => nextEvent(s, "conversation:removed"));
    expect((await owner.delete(`/api/conversations/${conversationId}/participants/${bob}`)).status).toBe(204);
    await Promise.all(removed);
    const after = [ws, polling].map((s) => record(s, "message:new"));
    await owner.post(`/api/conversations/${conversationId}/messages`, { content: "not for bob" });
    const f = await fence(svc, [
      { userId: ann!, socket: await connectAs(svc.url, svc, ann!) },
      { userId: bob!, socket: ws },
      { userId: bob!, socket: polling },
    ]);
    await f.pass();
    for (const list of after) expect(list.filter((m) => m.conversationId === conversationId)).toEqual([]);
  });
});
