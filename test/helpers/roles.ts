/**
 * One group conversation with a user in every position a caller can be in towards it: the
 * authorization matrix and the fuzzers act from these. A new position (banned, blocked,
 * suspended) is one more Role here and one more step in `rolesFixture`.
 */
import { mintToken, type TestService } from "./service";

export const ROLES = ["outsider", "removed", "banned", "deleted", "revoked", "suspended", "member", "admin", "owner"] as const;
export type Role = (typeof ROLES)[number];

export type RolesFixture = {
  /** The user in each role; `target` is a plain member that actions aim at, `newcomer` someone to add. */
  users: Record<Role | "target" | "newcomer", string>;
  tokens: Record<Role, string>;
  conversationId: string;
  /** Written by the owner. */
  messageId: string;
  /** Every id above, for fuzzers to mix into generated values. */
  hints: { uuids: string[]; userIds: string[] };
};

let fixtures = 0;

export async function rolesFixture(svc: TestService): Promise<RolesFixture> {
  const tag = `${Date.now().toString(36)}${(fixtures++).toString(36)}`;
  const users = Object.fromEntries([...ROLES, "target", "newcomer"].map((role) => [role, `${role}-${tag}`])) as RolesFixture["users"];
  await svc.syncUsers(...Object.values(users));
  const owner = await svc.as(users.owner);
  const created = await owner.post("/api/conversations", {
    type: "group",
    name: `roles ${tag}`,
    participantIds: [users.admin, users.member, users.removed, users.banned, users.deleted, users.revoked, users.suspended, users.target],
  });
  const conversationId: string = expectStatus(created, 201, "create the group").body.id;
  expectStatus(await owner.patch(`/api/conversations/${conversationId}/participants/${users.admin}`, { role: "admin" }), 200, "make the admin");
  expectStatus(await owner.delete(`/api/conversations/${conversationId}/participants/${users.removed}`), 204, "remove a participant");
  expectStatus(await owner.post(`/api/conversations/${conversationId}/bans`, { userId: users.banned }), 201, "ban a participant");
  const messageId: string = expectStatus(await owner.post(`/api/conversations/${conversationId}/messages`, { content: "hello" }), 201, "send").body.id;
  expectStatus(await svc.internal("DELETE", `/api/users/${users.deleted}`), 204, "delete a user");
  expectStatus(await svc.internal("POST", `/api/users/${users.suspended}/suspend`, {}), 200, "suspend a user");
  const revocation = expectStatus(await svc.internal("POST", `/api/users/${users.revoked}/revoke-tokens`, {}), 200, "revoke tokens");

  const tokens = {} as Record<Role, string>;
  for (const role of ROLES) tokens[role] = await mintToken(users[role], role === "revoked" ? { issuedAt: revocation.body.revokedBefore } : {});
  return { users, tokens, conversationId, messageId, hints: { uuids: [conversationId, messageId], userIds: Object.values(users) } };
}

function expectStatus<T extends { status: number; body: any }>(res: T, status: number, what: string): T {
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}
