import { describe, expect, test } from "bun:test";
import { AppError } from "../../src/core/errors";
import type { Message } from "../../src/messages/model";
import { type QueuedSend, SendQueue, type SendResult } from "../../src/messages/send-queue";
import { createDrain } from "../../src/ops/drain";

/**
 * The queue's scheduling on its own, over a writer that stores nothing: each statement it is
 * handed waits until the test settles it, so what goes together is decided by the test, not by
 * timing.
 */
type Statement = { batch: QueuedSend[]; settle(outcomes?: (SendResult | AppError)[] | Error): void };

function fakeWriter() {
  const statements: Statement[] = [];
  const stored = (send: QueuedSend): SendResult => ({ message: { conversationId: send.conversationId, content: send.input.content } as Message, created: true });
  const write = (batch: QueuedSend[]) =>
    new Promise<(SendResult | AppError)[]>((resolve, reject) =>
      statements.push({
        batch,
        settle: (outcomes = batch.map(stored)) => (outcomes instanceof Error ? reject(outcomes) : resolve(outcomes)),
      }),
    );
  return { statements, write };
}

const send = (conversationId: string, content: string, clientMessageId?: string): QueuedSend => ({
  actor: { userId: "ann" } as QueuedSend["actor"],
  conversationId,
  input: { content, clientMessageId },
});
const contents = (s: Statement | undefined) => s?.batch.map((b) => `${b.conversationId}:${b.input.content}`);
/** Lets the queue start the next statement once the previous one settled. */
const tick = () => Bun.sleep(0);
const sqlError = (code: string) => Object.assign(new Error(`failed (${code})`), { code });

describe("SendQueue", () => {
  test("an idle queue writes a send at once; sends arriving meanwhile go together in the next statement", async () => {
    const { statements, write } = fakeWriter();
    const queue = new SendQueue(write, createDrain());
    const first = queue.send(send("c1", "a"));
    expect(statements.map(contents)).toEqual([["c1:a"]]);
    const rest = [queue.send(send("c1", "b")), queue.send(send("c2", "x")), queue.send(send("c1", "c"))];
    expect(statements).toHaveLength(1);
    expect(queue.waitingCount).toBe(3);
    statements[0]!.settle();
    expect((await first).message.content).toBe("a");
    await tick();
    expect(statements.map(contents)).toEqual([["c1:a"], ["c1:b", "c2:x", "c1:c"]]);
    statements[1]!.settle();
    expect((await Promise.all(rest)).map((r) => r.message.content)).toEqual(["b", "x", "c"]);
  });

  test("the next statement goes out before the sends of the one before are answered", async () => {
    const { statements, write } = fakeWriter();
    const queue = new SendQueue(write, createDrain());
    const first = queue.send(send("c1", "a"));
    const next = queue.send(send("c1", "b"));
    // What was out when the first send was answered: its answer (fan-out, response) must not keep
    // the database waiting for the next statement.
    const outWhenAnswered = first.then(() => statements.map(contents));
    statements[0]!.settle();
    expect(await outWhenAnswered).toEqual([["c1:a"], ["c1:b"]]);
    statements[1]!.settle();
    expect((await next).message.content).toBe("b");
  });

  test("a stalled statement lets another start, without the stalled statement's conversations", async () => {
    const { statements, write } = fakeWriter();
    const queue = new SendQueue(write, createDrain());
    const held = queue.send(send("c1", "stuck"));
    const behind = queue.send(send("c1", "behind it"));
    const other = queue.send(send("c2", "elsewhere"));
    expect(statements).toHaveLength(1);
    await Bun.sleep(60);
    // The second statement takes c2 only: c1 is in the first, and its next send keeps its order.
    expect(statements.map(contents)).toEqual([["c1:stuck"], ["c2:elsewhere"]]);
    statements[1]!.settle();
    expect((await other).message.content).toBe("elsewhere");
    statements[0]!.settle();
    await held;
    await tick();
    expect(contents(statements[2])).toEqual(["c1:behind it"]);
    statements[2]!.settle();
    await behind;
  });

  test("a retry (same clientMessageId) never goes in the statement of its first copy", async () => {
    const { statements, write } = fakeWriter();
    const queue = new SendQueue(write, createDrain());
    const sends = [queue.send(send("c1", "opens")), queue.send(send("c1", "once", "k")), queue.send(send("c1", "again", "k"))];
    for (let i = 0; i < 3; i++) {
      await tick();
      statements[i]!.settle();
    }
    await Promise.all(sends);
    expect(statements.map(contents)).toEqual([["c1:opens"], ["c1:once"], ["c1:again"]]);
  });

  test("a refusal fails its own send only", async () => {
    const { statements, write } = fakeWriter();
    const queue = new SendQueue(write, createDrain());
    const opening = queue.send(send("c1", "opens"));
    const refused = queue.send(send("c2", "refused")).catch((error: unknown) => error);
    const stored = queue.send(send("c3", "stored"));
    statements[0]!.settle();
    await opening;
    await tick();
    const [batch] = statements.slice(1);
    batch!.settle([new AppError("NOT_FOUND", "Conversation not found"), { message: { content: "stored" } as Message, created: true }]);
    expect(await refused).toMatchObject({ code: "NOT_FOUND" });
    expect((await stored).message.content).toBe("stored");
  });

  test("a statement that failed on one send's data is written again one send at a time", async () => {
    const { statements, write } = fakeWriter();
    const queue = new SendQueue(write, createDrain());
    const opening = queue.send(send("c1", "opens"));
    const sends = Promise.allSettled([queue.send(send("c1", "good")), queue.send(send("c2", "bad")), queue.send(send("c2", "good too"))]);
    statements[0]!.settle();
    await opening;
    await tick();
    statements[1]!.settle(sqlError("22P05"));
    for (let i = 2; i < 5; i++) {
      await tick();
      if (i === 3) statements[i]!.settle(sqlError("22P05"));
      else statements[i]!.settle();
    }
    const outcomes = await sends;
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(statements.slice(1).map(contents)).toEqual([["c1:good", "c2:bad", "c2:good too"], ["c1:good"], ["c2:bad"], ["c2:good too"]]);
  });

  test("a lock timeout is retried one conversation at a time; the database gone fails every send", async () => {
    const { statements, write } = fakeWriter();
    const queue = new SendQueue(write, createDrain());
    const opening = queue.send(send("c1", "opens"));
    const sends = Promise.allSettled([queue.send(send("c1", "held")), queue.send(send("c2", "free")), queue.send(send("c1", "held too"))]);
    statements[0]!.settle();
    await opening;
    await tick();
    statements[1]!.settle(sqlError("55P03"));
    await tick();
    expect(contents(statements[2])).toEqual(["c1:held", "c1:held too"]);
    statements[2]!.settle(sqlError("55P03"));
    await tick();
    expect(contents(statements[3])).toEqual(["c2:free"]);
    statements[3]!.settle();
    const outcomes = await sends;
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "fulfilled", "rejected"]);

    // A statement in flight, so that the next two wait and go out together.
    const holding = queue.send(send("c3", "holds"));
    const gone = Promise.allSettled([queue.send(send("c1", "x")), queue.send(send("c2", "y"))]);
    statements[4]!.settle();
    await holding;
    await Bun.sleep(30);
    expect(contents(statements[5])).toEqual(["c1:x", "c2:y"]);
    statements[5]!.settle(new Error("connection closed"));
    expect((await gone).map((o) => o.status)).toEqual(["rejected", "rejected"]);
  });
  test("a lone send whose transaction was a deadlock's victim is not run again by the queue: its transaction already was", async () => {
    const { statements, write } = fakeWriter();
    const queue = new SendQueue(write, createDrain());
    const alone = queue.send(send("c1", "alone")).catch((e: unknown) => e);
    statements[0]!.settle(sqlError("40P01"));
    expect(await alone).toMatchObject({ code: "40P01" });
    expect(statements).toHaveLength(1);
  });

  test("a statement that only takes as long as recent ones did is busy, not stalled: no other starts beside it", async () => {
    const { statements, write } = fakeWriter();
    const queue = new SendQueue(write, createDrain());
    const first = queue.send(send("c1", "a"));
    await Bun.sleep(40);
    statements[0]!.settle();
    await first;
    await tick();
    // Recent statements took 40 ms or more: another starts beside the next one only after three times that.
    const busy = queue.send(send("c1", "busy"));
    const busyStarted = performance.now();
    const other = queue.send(send("c2", "waits"));
    expect(statements.map(contents)).toEqual([["c1:a"], ["c1:busy"]]);
    while (statements.length < 3) await Bun.sleep(5);
    expect(performance.now() - busyStarted).toBeGreaterThanOrEqual(115);
    expect(contents(statements[2])).toEqual(["c2:waits"]);
    statements[1]!.settle();
    statements[2]!.settle();
    await Promise.all([busy, other]);
  });

  test("a backlog of more than a statement's worth that waited over a second is refused, retryably, until it is gone", async () => {
    const { statements, write } = fakeWriter();
    const queue = new SendQueue(write, createDrain());
    const opening = queue.send(send("c1", "opens"));
    const backlog = Array.from({ length: 300 }, (_, i) => queue.send(send("c1", `b${i}`)));
    await Bun.sleep(1100);
    statements[0]!.settle();
    await opening;
    await tick();
    // A full batch of sends that waited more than a second: the backlog is more than is finished in time.
    expect(statements[1]!.batch).toHaveLength(256);
    const refused = await queue.send(send("c2", "refused")).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: "UNAVAILABLE", retryAfter: 1, details: { retryAfter: 1 } });
    statements[1]!.settle();
    await tick();
    statements[2]!.settle();
    expect(await Promise.all(backlog)).toHaveLength(300);
    // Gone: accepted again.
    const accepted = queue.send(send("c2", "accepted"));
    await tick();
    statements[3]!.settle();
    expect((await accepted).message.content).toBe("accepted");
  });
});
