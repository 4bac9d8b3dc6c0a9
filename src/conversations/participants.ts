import { and, asc, eq, inArray, sql } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import type { Transaction } from "../core/db/client";
import { conversations, participants } from "../core/db/schema";
import { type AfterCommit, withTransaction } from "../core/db/transaction";
import { AppError, conflict, forbidden, invalid } from "../core/errors";
import { forgetReadMarks } from "../receipts/service";
import { activeUserIds } from "../users/store";
import { recordEvent, recordEvents } from "../webhooks/outbox";
import { bannedAmong, requireNoBlockers } from "../moderation/store";
import { type Membership, ownerCount, requireGroup, requireManager, requireMembership, requireParticipant } from "./membership";
import type { Conversation, Role } from "./model";
import { passOwnershipIfNone } from "./roles";
import { buildConversation } from "./view";

/* Membership changes: who joins and leaves, with the member count, outbox rows and room moves that go with them. */

/**
 * Users among `userIds` that are not synced (or were deleted). The others are share-locked until
 * the transaction ends, so that a deletion running at the same time waits and then finds (and
 * removes) the new membership instead of missing it. Lock users before conversations: that is
 * the order deleteUser takes them in.
 */
export async function missingUsers(tx: Transaction, userIds: string[]): Promise<string[]> {
  const known = await activeUserIds(tx, userIds, { share: true });
  return userIds.filter((id) => !known.has(id));
}

export function requireNoneMissing(missing: string[]): void {
  if (missing.length) throw new AppError("NOT_FOUND", `Unknown user${missing.length > 1 ? "s" : ""}: ${missing.slice(0, 5).join(", ")}`, { userIds: missing });
}

/** Outbox rows now, room joins and participant:added after commit. */
export async function announceAdded(ctx: Context, tx: Transaction, after: AfterCommit, conversationId: string, userIds: string[], by: string) {
  const timestamp = new Date().toISOString();
  const added = await tx
    .select()
    .from(participants)
    .where(and(eq(participants.conversationId, conversationId), inArray(participants.userId, userIds)));
  await recordEvents(
    ctx,
    tx,
    added.map((p) => ({ type: "participant.added" as const, data: { conversationId, userId: p.userId, role: p.role, addedBy: by, timestamp } })),
  );
  after(async () => {
    for (const userId of userIds) ctx.fanout.toConversation(conversationId, "participant:added", { conversationId, userId, timestamp });
    await ctx.fanout.joinConversation(userIds, conversationId);
  });
}

/**
 * Owner/admin adds users to a group; only an owner grants `owner`. Users already in are left as
 * they are. Newcomers see the history, but start with it read: it was not written to them.
 */
export async function addParticipants(ctx: Context, actor: Actor, conversationId: string, input: { userIds: string[]; role?: Role }): Promise<Conversation> {
  const role = input.role ?? "member";
  const userIds = [...new Set(input.userIds)];
  return withTransaction(ctx, async (tx, after) => {
    const missing = await missingUsers(tx, userIds);
    const m = await requireMembership(tx, conversationId, actor.userId, { lock: true });
    requireGroup(m, "take more participants");
    requireManager(m, "add participants");
    if (role === "owner" && m.participant.role !== "owner") throw forbidden("Only an owner can add an owner");
    requireNoneMissing(missing);
    await requireNoBlockers(tx, actor.userId, userIds, "You cannot add one or more of these users");
    // Under the conversation's lock, as bans are made: an add and a ban of the same user are ordered.
    const banned = await bannedAmong(tx, conversationId, userIds);
    if (banned.length) throw new AppError("FORBIDDEN", `Banned from this conversation: ${banned.slice(0, 5).join(", ")}`, { userIds: banned });
    const inserted = await tx
      .insert(participants)
      .values(userIds.map((userId) => ({ conversationId, userId, role, lastReadSeq: m.conversation.lastSeq })))
      .onConflictDoNothing()
      .returning({ userId: participants.userId });
    const added = inserted.map((p) => p.userId);
    if (added.length) {
      const total = await changeMemberCount(tx, conversationId, added.length);
      if (total > ctx.config.MAX_GROUP_PARTICIPANTS) throw invalid(`A group has at most ${ctx.config.MAX_GROUP_PARTICIPANTS} participants`);
      await announceAdded(ctx, tx, after, conversationId, added, actor.userId);
      after(async () => {
        const joined = await buildConversation(ctx.db, m.conversation, added[0]!);
        ctx.fanout.toUsers(added, "conversation:joined", joined);
      });
    }
    return buildConversation(tx, m.conversation, actor.userId);
  });
}

/**
 * Removes a participant, or leaves. Everyone may leave, the last owner of a group too (ownership
 * passes on), and either side of a direct conversation (the other keeps it; asking for it again
 * brings the leaver back). Owner/admin remove others from a group (admins not owners), never its
 * last owner (409 before 403: no one could).
 */
export async function removeParticipant(ctx: Context, actor: Actor, conversationId: string, userId: string): Promise<void> {
  await withTransaction(ctx, async (tx, after) => {
    const m = await requireMembership(tx, conversationId, actor.userId, { lock: true });
    await removeFrom(ctx, tx, after, m, actor, userId);
  });
}

/**
 * removeParticipant's rules and removal, in a transaction that holds the conversation's lock
 * (`m`, the actor's membership, was read under it). A ban removes this way, `banned` marking the
 * webhook.
 */
export async function removeFrom(ctx: Context, tx: Transaction, after: AfterCommit, m: Membership, actor: Actor, userId: string, opts: { banned?: boolean } = {}): Promise<void> {
  const { conversationId } = m.participant;
  const leaving = userId === actor.userId;
  if (!leaving) {
    requireGroup(m, "lose a participant; leave or delete it instead");
    const target = await requireParticipant(tx, conversationId, userId);
    if (target.role === "owner" && (await ownerCount(tx, conversationId)) === 1) {
      throw conflict("The last owner cannot be removed; make another participant owner first");
    }
    requireManager(m, "remove participants");
    if (target.role === "owner" && m.participant.role !== "owner") throw forbidden("Only an owner can remove an owner");
  }
  await detach(ctx, tx, after, conversationId, userId, actor.userId, opts.banned === true);
  if (leaving && m.conversation.type === "group" && m.participant.role === "owner") await passOwnershipIfNone(ctx, tx, after, conversationId);
}

/** Keeps conversations.member_count in step with the rows added or removed; returns the new count. */
export async function changeMemberCount(tx: Transaction, conversationId: string, by: number): Promise<number> {
  const [row] = await tx
    .update(conversations)
    .set({ memberCount: sql`${conversations.memberCount} + ${by}` })
    .where(eq(conversations.id, conversationId))
    .returning({ memberCount: conversations.memberCount });
  return row?.memberCount ?? 0;
}

/**
 * Deletes the participant row and their read marks (a returning participant starts with the
 * history read, from their new join time), records participant.removed and moves their sockets
 * out. Their mentions stay in the index: they count only for a participant, above their marker,
 * so they are back if a returning participant marks that old history unread.
 */
async function detach(ctx: Context, tx: Transaction, after: AfterCommit, conversationId: string, userId: string, by: string, banned = false) {
  await tx.delete(participants).where(and(eq(participants.conversationId, conversationId), eq(participants.userId, userId)));
  await forgetReadMarks(tx, conversationId, userId);
  await changeMemberCount(tx, conversationId, -1);
  const timestamp = new Date().toISOString();
  await recordEvent(ctx, tx, "participant.removed", { conversationId, userId, removedBy: by, timestamp, ...(banned ? { banned: true } : {}) });
  after(async () => {
    await ctx.fanout.leaveConversation([userId], conversationId);
    ctx.fanout.toUsers([userId], "conversation:removed", { conversationId });
    ctx.fanout.toConversation(conversationId, "participant:removed", { conversationId, userId, timestamp });
  });
}

/** A deleted user leaves every conversation; a group whose last owner they were passes on. */
export async function removeUserEverywhere(ctx: Context, tx: Transaction, after: AfterCommit, userId: string): Promise<void> {
  const memberships = await tx
    .select({ conversationId: participants.conversationId, role: participants.role, type: conversations.type })
    .from(participants)
    .innerJoin(conversations, eq(conversations.id, participants.conversationId))
    .where(eq(participants.userId, userId))
    // In id order, as message sends lock them: two orders could deadlock.
    .orderBy(asc(conversations.id))
    .for("no key update", { of: conversations });
  for (const { conversationId, role, type } of memberships) {
    await detach(ctx, tx, after, conversationId, userId, userId);
    if (type === "group" && role === "owner") await passOwnershipIfNone(ctx, tx, after, conversationId);
  }
}
