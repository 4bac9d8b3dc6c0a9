import { beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { withTransaction } from "../../src/core/db/transaction";
import { toErrorBody } from "../../src/core/errors";
import { rowsOf } from "../helpers/history";
import { type ApiClient, serviceForTests } from "../helpers/service";

/**
 * A transaction PostgreSQL ends as a deadlock's victim (or a serialization failure) wrote nothing
 * and is run again; everyday writes racing on one conversation all succeed.
 */
const svc = serviceForTests();
const deadlock = () => Object.assign(new Error("deadlock detected"), { code: "40P01" });

beforeAll(async () => {
  await rowsOf(svc, sql`create table attempts (n int primary key)`);
});

describe("withTransaction", () => {
  test("runs a deadlock's victim again: the first run's writes are gone and only the committed run's effects run", async () => {
    let runs = 0;
    const effects: number[] = [];
    const result = await withTransaction(svc.app.ctx, async (tx, after) => {
      runs++;
      await tx.execute(sql`insert into attempts (n) values (${runs})`);
      after(() => void effects.push(runs));
      if (runs === 1) throw deadlock();
      return "committed";
    });
    expect(result).toBe("committed");
    expect(runs).toBe(2);
    expect(effects).toEqual([2]);
    expect(await rowsOf(svc, sql`select n from attempts order by n`)).toEqual([{ n: 2 }]);
  });

  test("gives up after three runs, and the caller is told UNAVAILABLE (503): retry later", async () => {
    let runs = 0;
    const error = await withTransaction(svc.app.ctx, async () => {
      runs++;
      throw deadlock();
    }).catch((e: unknown) => e);
    expect(runs).toBe(3);
    expect(toErrorBody(error)).toMatchObject({ status: 503, body: { code: "UNAVAILABLE" } });
  });

  test("does not run again what failed for any other reason", async () => {
    let runs = 0;
    await withTransaction(svc.app.ctx, async () => {
      runs++;
      throw Object.assign(new Error("duplicate key"), { code: "23505" });
    }).catch(() => {});
    expect(runs).toBe(1);
  });
});

describe("writes racing on one conversation", () => {
  let owner: ApiClient, admin: ApiClient, member: ApiClient;

  beforeAll(async () => {
    await svc.syncUsers("race-owner", "race-admin", "race-member");
    [owner, admin, member] = [await svc.as("race-owner"), await svc.as("race-admin"), await svc.as("race-member")];
  });

  // Edits with mentions (their mention rows check the conversation's row) against pins, unpins and
  // replies (which hold the conversation's row and wait for the message): PostgreSQL found
  // deadlocks in a few of every hundred such requests, and answered them 500.
  test("edits with mentions, pins, unpins and replies all succeed", async () => {
    const authors = [owner, admin, member];
    for (let round = 0; round < 4; round++) {
      const conversationId = (await owner.post("/api/conversations", { type: "group", participantIds: ["race-admin", "race-member"] })).body.id;
      expect((await owner.patch(`/api/conversations/${conversationId}/participants/race-admin`, { role: "admin" })).status).toBe(200);
      const sent: { id: string; by: ApiClient }[] = [];
      for (let i = 0; i < 6; i++) {
        const by = authors[i % 3]!;
        sent.push({ id: (await by.post(`/api/conversations/${conversationId}/messages`, { content: `m${i}` })).body.id, by });
      }
      const answers = await Promise.all(
        Array.from({ length: 24 }, (_, k) => {
          const target = sent[(k * 5 + round) % sent.length]!;
          switch (k % 4) {
            case 0:
              return target.by.patch(`/api/messages/${target.id}`, { content: `edit ${k}`, mentions: [["race-owner", "race-admin", "race-member"][k % 3]] });
            case 1:
              return admin.post(`/api/messages/${target.id}/pin`);
            case 2:
              return owner.delete(`/api/messages/${target.id}/pin`);
            default:
              return member.post(`/api/conversations/${conversationId}/messages`, { content: `reply ${k}`, parentId: target.id });
          }
        }),
      );
      const failed = answers.filter((a) => a.status >= 500);
      expect(failed.map((a) => a.body)).toEqual([]);
    }
  }, 60_000);
});
