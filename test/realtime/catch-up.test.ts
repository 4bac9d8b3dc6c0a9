import { describe, expect, test } from "bun:test";
import { CatchUpGate } from "../../src/core/realtime/catch-up";
import { AppError, toErrorBody } from "../../src/core/errors";

/** A piece of work that runs until `finish` is called. */
function held() {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return { finish, work: () => done };
}

describe("catch-up gate", () => {
  test("runs at most `limit` at once; the next in line starts as soon as one ends, in arrival order", async () => {
    const gate = new CatchUpGate(2, 5_000);
    const started: number[] = [];
    const jobs = [held(), held(), held(), held()];
    const runs = jobs.map((job, i) => gate.run(() => (started.push(i), job.work())));
    await Bun.sleep(10);
    expect(started).toEqual([0, 1]);
    jobs[1]!.finish();
    await Bun.sleep(10);
    expect(started).toEqual([0, 1, 2]);
    jobs[0]!.finish();
    await Bun.sleep(10);
    expect(started).toEqual([0, 1, 2, 3]);
    for (const job of jobs) job.finish();
    await Promise.all(runs);
    // Every slot came back: `limit` run at once again.
    const again = [held(), held(), held()];
    const count: number[] = [];
    const more = again.map((job, i) => gate.run(() => (count.push(i), job.work())));
    await Bun.sleep(10);
    expect(count).toEqual([0, 1]);
    for (const job of again) job.finish();
    await Promise.all(more);
  });

  test("work that waited too long is refused with UNAVAILABLE and never runs", async () => {
    const gate = new CatchUpGate(1, 50);
    const first = held();
    const running = gate.run(first.work);
    let ran = false;
    const refused = gate.run(async () => {
      ran = true;
    });
    const error = await refused.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(toErrorBody(error).body).toMatchObject({ code: "UNAVAILABLE", details: { retryAfter: 1 } });
    first.finish();
    await running;
    await Bun.sleep(10);
    expect(ran).toBe(false);
    // The refused one left the line: the next runs at once.
    await gate.run(async () => {});
  });

  test("work that fails gives its slot back", async () => {
    const gate = new CatchUpGate(1, 1_000);
    await expect(gate.run(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    const second = held();
    const waiting = gate.run(second.work);
    const third = gate.run(async () => "third");
    second.finish();
    await waiting;
    expect(await third).toBe("third");
  });
});
