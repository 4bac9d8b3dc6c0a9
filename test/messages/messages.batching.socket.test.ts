import { describe, expect, test } from "bun:test";
import { connectAs, group, makeUsers } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";

/**
 * Sends that wait while a statement is writing go together in the next one. A retry of a send
 * (same clientMessageId) is never judged by its twin in the same statement: it waits for the next
 * one, so it gets what the first stored or, if the first was refused, is judged on its own.
 */
const svc = serviceForTests();

describe("sends that wait together", () => {
  test("a retry whose first copy was refused is judged on its own", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const id = await group(svc, ann!, [bob!]);
    const socket = await connectAs(svc.url, svc, ann!);
    // The first send starts a statement; the two behind it wait for the next one together.
    const sends = [
      socket.emitWithAck("message:send", { conversationId: id, content: "opens a statement" }),
      socket.emitWithAck("message:send", { conversationId: id, content: "bad reply", clientMessageId: "k-1", replyTo: "018f0000-0000-7000-8000-000000000000" }),
      socket.emitWithAck("message:send", { conversationId: id, content: "the retry, fixed", clientMessageId: "k-1" }),
    ];
    const [opening, refused, retried] = await Promise.all(sends);
    expect(opening.ok).toBe(true);
    expect(refused).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    expect(retried).toMatchObject({ ok: true, data: { content: "the retry, fixed", clientMessageId: "k-1", seq: 2 } });
  });

  test("a retry behind its first copy gets the stored message", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const id = await group(svc, ann!, [bob!]);
    const socket = await connectAs(svc.url, svc, ann!);
    const [opening, first, again] = await Promise.all([
      socket.emitWithAck("message:send", { conversationId: id, content: "opens a statement" }),
      socket.emitWithAck("message:send", { conversationId: id, content: "once", clientMessageId: "k-2" }),
      socket.emitWithAck("message:send", { conversationId: id, content: "once", clientMessageId: "k-2" }),
    ]);
    expect(opening.ok && first.ok && again.ok).toBe(true);
    expect(again.data).toEqual(first.data);
    const page = (await (await svc.as(ann!)).get(`/api/conversations/${id}/messages`)).body.data;
    expect(page.map((m: { content: string }) => m.content)).toEqual(["opens a statement", "once"]);
  });
});
