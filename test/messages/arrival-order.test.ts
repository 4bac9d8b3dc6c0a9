import { expect, test } from "bun:test";
import { ArrivalOrder } from "../../src/messages/arrival-order";

test("tasks of one key enter in the order they arrived, however long each took before entering", async () => {
  const order = new ArrivalOrder();
  const entered: number[] = [];
  const started = performance.now();
  await Promise.all(
    [0, 1, 2, 3, 4].map((i) =>
      order.run("ann in c1", async (enter) => {
        await Bun.sleep(500 - 100 * i);
        return enter(() => entered.push(i));
      }),
    ),
  );
  expect(entered).toEqual([0, 1, 2, 3, 4]);
  // They waited at once (500 ms), not one after another (500 + 400 + 300 + 200 + 100 ms).
  expect(performance.now() - started).toBeLessThan(1000);
});

test("a task that fails, or finishes without entering, lets the next one enter", async () => {
  const order = new ArrivalOrder();
  const entered: string[] = [];
  const results = await Promise.allSettled([
    order.run("k", async () => {
      await Bun.sleep(30);
      throw new Error("refused");
    }),
    order.run("k", async () => {
      await Bun.sleep(20);
      return "answered without entering";
    }),
    order.run("k", async (enter) => enter(() => entered.push("third"))),
  ]);
  expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled", "fulfilled"]);
  expect(entered).toEqual(["third"]);
});

test("a task refused before its turn does not let later ones overtake the slower task before it", async () => {
  const order = new ArrivalOrder();
  const entered: string[] = [];
  const slow = order.run("k", async (enter) => {
    await Bun.sleep(100);
    return enter(() => entered.push("slow first"));
  });
  const refused = order.run("k", async () => {
    throw new Error("rejected by the hook");
  });
  const third = order.run("k", async (enter) => enter(() => entered.push("third")));
  await refused.catch(() => {});
  // Arriving after the refusal has finished, still behind the slow one.
  const fourth = order.run("k", async (enter) => enter(() => entered.push("fourth")));
  await Promise.all([slow, third, fourth]);
  expect(entered).toEqual(["slow first", "third", "fourth"]);
});

test("keys do not wait on each other", async () => {
  const order = new ArrivalOrder();
  const entered: string[] = [];
  const slow = order.run("ann in c1", async (enter) => {
    await Bun.sleep(100);
    return enter(() => entered.push("ann"));
  });
  await order.run("bob in c1", async (enter) => enter(() => entered.push("bob")));
  await order.run("ann in c2", async (enter) => enter(() => entered.push("ann in c2")));
  expect(entered).toEqual(["bob", "ann in c2"]);
  await slow;
  expect(entered).toEqual(["bob", "ann in c2", "ann"]);
});

test("with settled, the next task enters once the step's promise has settled, not as soon as it started", async () => {
  const order = new ArrivalOrder();
  const events: string[] = [];
  const first = order.run("edit m1", (enter) =>
    enter(
      async () => {
        events.push("first starts");
        await Bun.sleep(50);
        events.push("first done");
      },
      { settled: true },
    ),
  );
  const second = order.run("edit m1", (enter) => enter(() => events.push("second starts")));
  await Promise.all([first, second]);
  expect(events).toEqual(["first starts", "first done", "second starts"]);
});
