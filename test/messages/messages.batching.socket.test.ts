import { describe, expect, test } from "bun:test";
import type { WriteSends } from "../../src/messages/send-queue";
import { connectAs, group, makeUsers } from "../helpers/realtime";
import { serviceForTests } from "../helpers/service";
import { eventually } from "../helpers/sockets";

/**
 * Sends that wait while a statement is writing go together in the next one. A retry of a send
 * (same clientMessageId) is never judged by its twin in the same statement: it waits for the next
 * one, so it gets what the first stored or, if the first was refused, is judged on its own.
 * The real writer runs; a wrapper records what each statement was handed, and can hold the next
 * one back until the test lets it go.
 */
let statements: string[][] = [];
let hold: Promise<void> | undefined;
const watch = (write: WriteSends): WriteSends => async (batch) => {
  statements.push(batch.map((send) => send.input.content ?? ""));
  const held = hold;
  hold = undefined;
  await held;
  return write(batch);
};
const svc = serviceForTests({}, { sendWriter: watch });

function holdNextStatement(): () => void {
  let release!: () => void;
  hold = new Promise((resolve) => (release = resolve));
  return release;
}

describe("sends that wait together", () => {
  test("sends that arrive while a statement writes are written together by the next one, in order", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const id = await group(svc, ann!, [bob!]);
    const socket = await connectAs(svc.url, svc, ann!);
    statements = [];
    const release = holdNextStatement();
    const contents = ["first", "second", "third", "fourth", "fifth"];
    const acks = contents.map((content) => socket.emitWithAck("message:send", { conversationId: id, content }));
    await eventually(() => svc.app.ctx.sends.waitingCount === 4, 5000, "four sends waiting");
    release();
    const answers = await Promise.all(acks);
    expect(statements).toEqual([["first"], ["second", "third", "fourth", "fifth"]]);
    expect(answers.map((a) => (a.ok ? [a.data.content, a.data.seq] : a))).toEqual(contents.map((content, i) => [content, i + 1]));
  });

  test("a retry whose first copy was refused is judged on its own", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const id = await group(svc, ann!, [bob!]);
    const socket = await connectAs(svc.url, svc, ann!);
    statements = [];
    const release = holdNextStatement();
    // The first send starts a statement; the two behind it wait for the next one together.
    const sends = [
      socket.emitWithAck("message:send", { conversationId: id, content: "opens a statement" }),
      socket.emitWithAck("message:send", { conversationId: id, content: "bad reply", clientMessageId: "k-1", replyTo: "018f0000-0000-7000-8000-000000000000" }),
      socket.emitWithAck("message:send", { conversationId: id, content: "the retry, fixed", clientMessageId: "k-1" }),
    ];
    await eventually(() => svc.app.ctx.sends.waitingCount === 2, 5000, "two sends waiting");
    release();
    const [opening, refused, retried] = await Promise.all(sends);
    expect(opening.ok).toBe(true);
    expect(refused).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
    expect(retried).toMatchObject({ ok: true, data: { content: "the retry, fixed", clientMessageId: "k-1", seq: 2 } });
    expect(statements).toEqual([["opens a statement"], ["bad reply"], ["the retry, fixed"]]);
  });

  test("a retry behind its first copy gets the stored message", async () => {
    const [ann, bob] = await makeUsers(svc, "ann", "bob");
    const id = await group(svc, ann!, [bob!]);
    const socket = await connectAs(svc.url, svc, ann!);
    statements = [];
    const release = holdNextStatement();
    const sends = [
      socket.emitWithAck("message:send", { conversationId: id, content: "opens a statement" }),
      socket.emitWithAck("message:send", { conversationId: id, content: "once", clientMessageId: "k-2" }),
      socket.emitWithAck("message:send", { conversationId: id, content: "once", clientMessageId: "k-2" }),
    ];
    await eventually(() => svc.app.ctx.sends.waitingCount === 2, 5000, "two sends waiting");
    release();
    const [opening, first, again] = await Promise.all(sends);
    expect(opening.ok && first.ok && again.ok).toBe(true);
    expect(again.data).toEqual(first.data);
    expect(statements).toEqual([["opens a statement"], ["once"], ["once"]]);
    const page = (await (await svc.as(ann!)).get(`/api/conversations/${id}/messages`)).body.data;
    expect(page.map((m: { content: string }) => m.content)).toEqual(["opens a statement", "once"]);
  });
});
