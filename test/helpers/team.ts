/**
 * The cast of the message tests over REST: "own" owns each team group, "adm" is its admin, "mem"
 * and "mia" members; "out" is in no conversation. Registers the beforeAll that syncs them.
 */
import { beforeAll } from "bun:test";
import type { ApiClient, TestService } from "./service";

export function teamCast(svc: TestService) {
  const clients: Record<string, ApiClient> = {};
  beforeAll(async () => {
    const ids = ["own", "adm", "mem", "mia", "out"];
    await svc.syncUsers(...ids);
    for (const id of ids) clients[id] = await svc.as(id);
  }, 60_000);
  const as = (id: string) => clients[id]!;

  /** A new group of the whole cast but "out", with "adm" made admin. */
  async function team(): Promise<string> {
    const created = await as("own").post("/api/conversations", { type: "group", participantIds: ["adm", "mem", "mia"], name: "Team" });
    await as("own").patch(`/api/conversations/${created.body.id}/participants/adm`, { role: "admin" });
    return created.body.id;
  }

  /** Sends over REST; anything but 201 fails the test with the answer. */
  async function send(who: string, conversationId: string, body: Record<string, unknown>) {
    const res = await as(who).post(`/api/conversations/${conversationId}/messages`, body);
    if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  return { as, team, send };
}
