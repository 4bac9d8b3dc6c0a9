import { expect, test } from "bun:test";
import { type SharedDatabase, sharedDatabase } from "../helpers/postgres";
import { type ApiClient, startService, type TestService } from "../helpers/service";
import { eventually } from "../helpers/sockets";

/**
 * A send that commits after its sender's removal (or deletion) has committed is refused, however
 * the two interleave. The widest window: the removal holds the conversation's lock and waits (here
 * on the removed participant's read marks, held from a second connection, as a slow disk would
 * hold it), the send starts and waits for the conversation's lock, then the removal commits.
 * Needs a second connection to hold the lock: real Postgres in both modes.
 */
type Race = { db: SharedDatabase; svc: TestService; owner: ApiClient; rae: ApiClient; conversationId: string };

async function setUp(tag: string): Promise<Race> {
  const db = await sharedDatabase();
  const svc = await startService({ DATABASE_URL: db.url });
  await svc.syncUsers(`${tag}-own`, `${tag}-rae`, `${tag}-sam`);
  const owner = await svc.as(`${tag}-own`);
  const rae = await svc.as(`${tag}-rae`);
  const conversationId = (await owner.post("/api/conversations", { type: "group", participantIds: [rae.userId, `${tag}-sam`] })).body.id as string;
  expect((await owner.post(`/api/conversations/${conversationId}/messages`, { content: "before" })).status).toBe(201);
  // Rae reads it: she has a read-marks row for the removal to delete.
  expect((await rae.put(`/api/conversations/${conversationId}/read`, {})).status).toBe(200);
  return { db, svc, owner, rae, conversationId };
}

/** Transactions of the service's database waiting for a lock. */
const waitingForLocks = async (db: SharedDatabase) =>
  Number((await db.sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)[0]!.n);

async function raceRemovalAgainstSend(race: Race, remove: () => Promise<{ status: number }>) {
  const { db, rae, conversationId } = race;
  const holder = await db.sql.reserve();
  try {
    await holder`begin`;
    await holder`select * from read_marks where conversation_id = ${conversationId} and user_id = ${rae.userId} for update`;
    const removal = remove();
    await eventually(async () => (await waitingForLocks(db)) === 1, 10_000, "the removal waiting, the conversation locked");
    const send = rae.post(`/api/conversations/${conversationId}/messages`, { content: "after the removal" });
    await eventually(async () => (await waitingForLocks(db)) === 2, 10_000, "the send waiting for the conversation");
    await holder`rollback`;
    return { removal: await removal, send: await send };
  } finally {
    holder.release();
  }
}

// A deleted user is refused as any of their requests now is (the send statement reads its caller's user).
const removals: [string, string, (race: Race) => Promise<{ status: number }>, { status: number; code: string }][] = [
  ["a participant removed", "rr", ({ owner, rae, conversationId }) => owner.delete(`/api/conversations/${conversationId}/participants/${rae.userId}`), { status: 404, code: "NOT_FOUND" }],
  ["a user deleted", "rd", ({ svc, rae }) => svc.internal("DELETE", `/api/users/${rae.userId}`), { status: 401, code: "USER_NOT_FOUND" }],
];

test.each(removals)("%s while their send waits for the conversation's lock: the send is refused", async (_, tag, remove, refusal) => {
  const race = await setUp(tag);
  try {
    const { removal, send } = await raceRemovalAgainstSend(race, () => remove(race));
    expect(removal.status).toBe(204);
    expect(send).toMatchObject({ status: refusal.status, body: { error: { code: refusal.code } } });
    const page = await race.owner.get(`/api/conversations/${race.conversationId}/messages`);
    expect(page.body.data.map((m: { content: string }) => m.content)).toEqual(["before"]);
  } finally {
    await race.svc.stop();
    await race.db.drop();
  }
}, 60_000);
