/**
 * Property-based fuzzing of every client event the service handles, read from a live socket:
 * payloads shaped like the event's schema, nearly shaped, or any JSON, with and without an ack.
 * Whatever comes in, the answer is never INTERNAL, the socket stays connected, and the service
 * stays healthy and ready.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fuzz, payloadOf } from "../helpers/arbitraries";
import { rolesFixture } from "../helpers/roles";
import { expectHealthy, socketEvents } from "../helpers/routes";
import { serviceForTests } from "../helpers/service";
import { connectSocket, record } from "../helpers/sockets";
import type { Ack } from "../../src/core/realtime/events";

const RUNS_PER_EVENT = 200;
// Budgets high enough that fuzzing measures handling, not the rate limiter.
const svc = serviceForTests({ RATE_LIMIT_EVENTS: "100000", RATE_LIMIT_MESSAGES: "100000" });

describe("fuzzing every socket event", () => {
  test("no payload gets an INTERNAL answer, drops the socket, or leaves the service unhealthy", async () => {
    const first = await rolesFixture(svc);
    await connectSocket(svc.wsUrl, first.tokens.owner);
    const events = socketEvents(svc);
    expect(events.size).toBeGreaterThan(10);

    for (const [event, schema] of events) {
      const fixture = await rolesFixture(svc);
      const { socket } = await connectSocket(svc.wsUrl, fixture.tokens.owner);
      const errors = record(socket, "error");
      await fuzz(
        event,
        fc.tuple(payloadOf(schema as never, fixture.hints), fc.boolean()),
        async ([payload, withAck]) => {
          if (withAck) {
            const timed = socket.timeout(5000) as unknown as { emitWithAck(e: string, p: unknown): Promise<Ack<unknown> | undefined> };
            const answer = await timed.emitWithAck(event, payload);
            if (answer?.ok !== true && answer?.ok !== false) throw new Error(`${event} answered ${JSON.stringify(answer)}`);
            if (!answer.ok && ["INTERNAL", "UNAVAILABLE"].includes(answer.error.code)) throw new Error(`${event} failed: ${JSON.stringify(answer.error)}`);
          } else {
            (socket.emit as (e: string, p: unknown) => void)(event, payload);
          }
          if (!socket.connected) throw new Error(`${event} disconnected the socket`);
        },
        RUNS_PER_EVENT,
      );
      // Fire-and-forget failures come back as `error` events: a ping answered after them shows they all arrived.
      expect((await socket.timeout(5000).emitWithAck("ping", {})).ok).toBe(true);
      expect(errors.filter((e) => ["INTERNAL", "UNAVAILABLE"].includes(e.code))).toEqual([]);
      socket.close();
      await expectHealthy(svc);
    }
  }, 300_000);
});
