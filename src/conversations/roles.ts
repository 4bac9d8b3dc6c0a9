import { and, asc, eq } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import type { Transaction } from "../core/db/client";
import { participants } from "../core/db/schema";
import { type AfterCommit, withTransaction } from "../core/db/transaction";
import { conflict, forbidden } from "../core/errors";
import { ownerCount, requireGroup, requireManager, requireMembership, requireParticipant } from "./membership";
import type { Participant, Role } from "./model";
import { toParticipant } from "./view";

/* Who may grant which role, and the rule that a group always has an owner. */

/**
 * Owner/admin changes a role; only an owner grants or takes away `owner`. The last owner stays
 * owner whoever asks (409 before 403: the request could never succeed).
 */
export async function updateParticipantRole(ctx: Context, actor: Actor, conversationId: string, userId: string, role: Role): Promise<Participant> {
  return withTransaction(ctx, async (tx, after) => {
    const m = await requireMembership(tx, conversationId, actor.userId, { lock: true });
    requireGroup(m, "change roles");
    requireManager(m, "change roles");
    const target = await requireParticipant(tx, conversationId, userId);
    if (target.role === role) return toParticipant(target);
    if (target.role === "owner" && (await ownerCount(tx, conversationId)) === 1) throw conflict("The last owner cannot be demoted");
    if ((target.role === "owner" || role === "owner") && m.participant.role !== "owner") throw forbidden("Only an owner can grant or revoke owner");
    const [row] = await tx
      .update(participants)
      .set({ role })
      .where(and(eq(participants.conversationId, conversationId), eq(participants.userId, userId)))
      .returning();
    announceRole(ctx, after, conversationId, userId, role);
    return toParticipant(row!);
  });
}

/** participant:updated to the room once committed (no webhook: the list of webhook types is fixed). */
function announceRole(ctx: Context, after: AfterCommit, conversationId: string, userId: string, role: Role) {
  const timestamp = new Date().toISOString();
  after(() => ctx.fanout.toConversation(conversationId, "participant:updated", { conversationId, userId, role, timestamp }));
}

/**
 * A group left without an owner (its last one left or was deleted) goes to its longest-standing
 * admin, else member, ties broken by user id, so that no group is ever without one.
 */
export async function passOwnershipIfNone(ctx: Context, tx: Transaction, after: AfterCommit, conversationId: string): Promise<void> {
  if ((await ownerCount(tx, conversationId)) > 0) return;
  const [heir] = await tx
    .select()
    .from(participants)
    .where(eq(participants.conversationId, conversationId))
    // No owner is left, so alphabetical role order puts admins before members.
    .orderBy(asc(participants.role), asc(participants.joinedAt), asc(participants.userId))
    .limit(1);
  if (!heir) return;
  await tx
    .update(participants)
    .set({ role: "owner" })
    .where(and(eq(participants.conversationId, conversationId), eq(participants.userId, heir.userId)));
  announceRole(ctx, after, conversationId, heir.userId, "owner");
}
