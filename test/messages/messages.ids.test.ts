import { describe, expect, test } from "bun:test";
import { call, connectAs, group, makeUsers } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";
import { nextEvent } from "../helpers/sockets";

/** Ids are UUIDs of either case, always answered (and routed) in lowercase; other spellings are 400. */
const svc = serviceForTests();

describe("ids", () => {
  test("an id sent in upper case is the same id: answered in lower case, and the room hears the message", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const id = await group(svc, ann!, [bob!]);
    const bobSocket = await connectAs(svc.url, svc, bob!);
    const first = await (await svc.as(ann!)).post(`/api/conversations/${id}/messages`, { content: "first" });

    const heard = nextEvent(bobSocket, "message:new", (m: { content: string; conversationId: string }) => m.content === "upper");
    const res = await (await svc.as(ann!)).post(`/api/conversations/${id.toUpperCase()}/messages`, { content: "upper", replyTo: first.body.id.toUpperCase() });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ conversationId: id, replyTo: first.body.id });
    expect((await heard).conversationId).toBe(id);

    const annSocket = await connectAs(svc.url, svc, ann!);
    const overSocket = nextEvent(bobSocket, "message:new", (m: { content: string; conversationId: string }) => m.content === "socket upper");
    const ack = await call(annSocket, "message:send", { conversationId: id.toUpperCase(), content: "socket upper" });
    expect(ack).toMatchObject({ ok: true, data: { conversationId: id } });
    expect((await overSocket).conversationId).toBe(id);
    expect((await (await svc.as(bob!)).get(`/api/messages/${res.body.id.toUpperCase()}`)).body.id).toBe(res.body.id);
  });

  test("other spellings of a UUID (urn:uuid:, braces, no dashes) are 400", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const id = await group(svc, ann!, [bob!]);
    const client = await svc.as(ann!);
    for (const spelling of [`urn:uuid:${id}`, `{${id}}`, id.replaceAll("-", "")]) {
      const res = await client.post(`/api/conversations/${encodeURIComponent(spelling)}/messages`, { content: "x" });
      expect({ spelling, status: res.status, code: res.body?.error?.code }).toEqual({ spelling, status: 400, code: "VALIDATION_ERROR" });
    }
    const socket = await connectAs(svc.url, svc, ann!);
    const ack = await call(socket, "message:send", { conversationId: `urn:uuid:${id}`, content: "x" });
    expect(ack).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
  });
});
