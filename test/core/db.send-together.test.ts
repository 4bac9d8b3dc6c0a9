import { beforeAll, describe, expect, test } from "bun:test";
import type { Storage } from "../../src/core/db/client";
import { serviceForTests } from "../helpers/service";

/**
 * Storage.sendTogether: statements that go out with their BEGIN and COMMIT in one round trip
 * commit together or not at all, the first failure is the one thrown, and the connection goes
 * back to the pool out of any transaction.
 */
// One connection: what one call leaves behind, the next one finds.
const svc = serviceForTests({ DATABASE_POOL_SIZE: "1" });
let storage: Storage;

beforeAll(async () => {
  storage = svc.app.ctx.storage;
  await storage.query("create table together (n int primary key)", []);
});

const stored = async () => (await storage.query<{ n: number }>("select n from together order by n", [])).map((r) => r.n);
const insert = (n: number) => ({ text: "insert into together (n) values ($1::int) returning n", params: [n] });

describe(`Storage.sendTogether (${process.env.DATABASE_URL ? "postgres" : "pglite"})`, () => {
  test("commits every statement and answers each one's rows in order", async () => {
    const { rows, more } = await storage.sendTogether([insert(1), insert(2)]);
    expect(rows).toEqual([[{ n: 1 }], [{ n: 2 }]]);
    expect(more).toBeUndefined();
    expect(await stored()).toEqual([1, 2]);
  });

  test("a failing statement writes nothing, its own error is thrown, and the connection is usable after", async () => {
    const error = await storage.sendTogether([insert(3), insert(1), insert(4)]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "23505" });
    expect(await stored()).toEqual([1, 2]);
    // Not in an aborted transaction: this would fail with 25P02.
    expect(await storage.query<{ one: number }>("select 1 as one", [])).toEqual([{ one: 1 }]);
  });

  test("with `more`: it runs in the same transaction with the rows, and its failure rolls all back", async () => {
    const { more } = await storage.sendTogether([insert(5)], async (rows, tx) => {
      expect(rows).toEqual([[{ n: 5 }]]);
      await tx.execute("insert into together (n) values (6)" as never);
      return "done";
    });
    expect(more).toBe("done");
    expect(await stored()).toEqual([1, 2, 5, 6]);
    const error = await storage
      .sendTogether([insert(7)], async () => {
        throw new Error("refused");
      })
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe("refused");
    expect(await stored()).toEqual([1, 2, 5, 6]);
  });
});
