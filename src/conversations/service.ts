import { and, asc, desc, eq, inArray, lt, or, sql } from "drizzle-orm";
import type { Actor } from "../core/auth";
import type { Context } from "../core/context";
import type { Executor, Transaction } from "../core/db/client";
import { isUniqueViolation } from "../core/db/errors";
import { type ConversationRow, conversations, messages, type ParticipantRow, participants } from "../core/db/schema";
import { type AfterCommit, withTransaction } from "../core/db/transaction";
import { AppError, conflict, forbidden, invalid, notFound } from "../core/errors";
import { checkMetadata, checkStorable, iso, type List, listOf } from "../core/schemas";
import { withReactions } from "../messages/service";
import { forgetReadMarks, unreadCounts } from "../receipts/service";
import { activeUserIds } from "../users/store";
import { recordEvent, recordEvents } from "../webhooks/outbox";
import { type Membership, memberIds, requireManager, requireMembership } from "./membership";
import type { Conversation, CreateConversation, Participant, Role } from "./model";

export function toParticipant(row: ParticipantRow): Participant {
  return { userId: row.userId, role: row.role, joinedAt: row.joinedAt.toISOString(), lastReadSeq: row.lastReadSeq };
}

/** Full Conversation objects for `viewerId`: participants, last message and the viewer's unread count. */
export async function buildConversations(db: Executor, rows: ConversationRow[], viewerId: string): Promise<Conversation[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const lastIds = rows.map((r) => r.lastMessageId).filter((id): id is string => id !== null);
  const [memberRows, lastRows, unread] = await Promise.all([
    db.select().from(participants).where(inArray(participants.conversationId, ids)).orderBy(asc(participants.joinedAt), asc(participants.userId)),
    lastIds.length ? db.select().from(messages).where(inArray(messages.id, lastIds)) : Promise.resolve([]),
    unreadCounts(db, viewerId, ids),
  ]);
  const lastMessages = new Map((await withReactions(db, lastRows)).map((m) => [m.id, m]));
  const members = new Map<string, Participant[]>();
  for (const row of memberRows) {
    const list = members.get(row.conversationId) ?? [];
    list.push(toParticipant(row));
    members.set(row.conversationId, list);
  }
  return rows.map((row) => ({
    id: row.id,
    type: row.type,
    name: row.name,
    metadata: row.metadata,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    lastMessage: (row.lastMessageId && lastMessages.get(row.lastMessageId)) || null,
    lastMessageAt: iso(row.lastMessageAt),
    participants: members.get(row.id) ?? [],
    unreadCount: unread.get(row.id) ?? 0,
    slowModeSeconds: row.slowModeSeconds,
  }));
}

async function buildOne(db: Executor, row: ConversationRow, viewerId: string): Promise<Conversation> {
  return (await buildConversations(db, [row], viewerId))[0]!;
}

/** Webhook payloads carry the conversation without a viewer-specific unread count. */
const forWebhook = ({ unreadCount: _, ...conversation }: Conversation) => conversation;

/**
 * Users among `userIds` that are not synced (or were deleted). The others are share-locked until
 * the transaction ends, so that a deletion running at the same time waits and then finds (and
 * removes) the new membership instead of missing it. Lock users before conversations: that is
 * the order deleteUser takes them in.
 */
async function missingUsers(tx: Transaction, userIds: string[]): Promise<string[]> {
  const known = await activeUserIds(tx, userIds, { share: true });
  return userIds.filter((id) => !known.has(id));
}

function requireNoneMissing(missing: string[]): void {
  if (missing.length) throw new AppError("NOT_FOUND", `Unknown user${missing.length > 1 ? "s" : ""}: ${missing.slice(0, 5).join(", ")}`, { userIds: missing });
}

const directKeyOf = (a: string, b: string) => [a, b].sort().join(" ");

/**
 * Creates a conversation. A direct one is unique per pair: asking again returns the existing one
 * (`created: false`), with a participant restored if they had been removed by a user deletion.
 */
export async function createConversation(ctx: Context, actor: Actor, input: CreateConversation): Promise<{ conversation: Conversation; created: boolean }> {
  checkMetadata(input.metadata);
  checkStorable(input.name, "/name");
  const others = [...new Set(input.participantIds)].filter((id) => id !== actor.userId);
  if (input.type === "direct" && others.length !== 1) {
    throw invalid("A direct conversation has exactly one other participant", [{ path: "/participantIds", message: "need exactly one other user" }]);
  }
  if (input.type === "group" && others.length + 1 > ctx.config.MAX_GROUP_PARTICIPANTS) {
    throw invalid(`A group has at most ${ctx.config.MAX_GROUP_PARTICIPANTS} participants`);
  }
  const directKey = input.type === "direct" ? directKeyOf(actor.userId, others[0]!) : null;

  if (directKey) {
    const existing = await openExistingDirect(ctx, actor, directKey);
    if (existing) return { conversation: existing, created: false };
  }
  try {
    const conversation = await withTransaction(ctx, async (tx, after) => {
      requireNoneMissing(await missingUsers(tx, others));
      const id = Bun.randomUUIDv7();
      const [row] = await tx
        .insert(conversations)
        .values({ id, type: input.type, name: input.name ?? null, metadata: input.metadata ?? {}, createdBy: actor.userId, directKey, memberCount: others.length + 1 })
        .returning();
      const creatorRole: Role = input.type === "group" ? "owner" : "member";
      await tx.insert(participants).values([
        { conversationId: id, userId: actor.userId, role: creatorRole },
        ...others.map((userId) => ({ conversationId: id, userId, role: "member" as const })),
      ]);
      const conversation = await buildOne(tx, row!, actor.userId);
      await recordEvent(ctx, tx, "conversation.created", forWebhook(conversation));
      const everyone = [actor.userId, ...others];
      after(async () => {
        await ctx.fanout.joinConversation(everyone, id);
        ctx.fanout.toUsers(everyone, "conversation:new", conversation);
      });
      return conversation;
    });
    return { conversation, created: true };
  } catch (error) {
    // Both sides of a pair created their direct conversation at once: the loser gets the winner's.
    if (directKey && isUniqueViolation(error, "conversations_direct_key_unique")) {
      const existing = await openExistingDirect(ctx, actor, directKey);
      if (existing) return { conversation: existing, created: false };
    }
    throw error;
  }
}

async function openExistingDirect(ctx: Context, actor: Actor, directKey: string): Promise<Conversation | undefined> {
  return withTransaction(ctx, async (tx, after) => {
    const [row] = await tx.select().from(conversations).where(eq(conversations.directKey, directKey)).for("update");
    if (!row) return undefined;
    const pair = directKey.split(" ");
    const present = await memberIds(tx, row.id);
    const missing = pair.filter((u) => !present.includes(u));
    if (missing.length) {
      // Either side may have left, or the other been deleted: the caller is authenticated, so
      // only the other is checked. No deletion can be waiting on this conversation's lock, as
      // the missing user is not in it.
      requireNoneMissing(await missingUsers(tx, missing.filter((userId) => userId !== actor.userId)));
      await tx.insert(participants).values(missing.map((userId) => ({ conversationId: row.id, userId, role: "member" as const, lastReadSeq: row.lastSeq })));
      await changeMemberCount(tx, row.id, missing.length);
      await announceAdded(ctx, tx, after, row.id, missing, actor.userId);
      after(async () => {
        for (const userId of missing) ctx.fanout.toUsers([userId], "conversation:joined", await buildOne(ctx.db, row, userId));
      });
    }
    return buildOne(tx, row, actor.userId);
  });
}

/** Outbox rows now, room joins and participant:added after commit. */
async function announceAdded(ctx: Context, tx: Transaction, after: AfterCommit, conversationId: string, userIds: string[], by: string) {
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

type Cursor = { at: Date; id: string };
const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify([c.at.toISOString(), c.id])).toString("base64url");
/**
 * What toISOString gives for a year 1–9999. Anything else JavaScript parses (years ±275760, year 0)
 * Postgres refuses, so it must not get that far.
 */
const CURSOR_TIME = /^(?!0000)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
function decodeCursor(value: string): Cursor {
  try {
    const [at, id] = JSON.parse(Buffer.from(value, "base64url").toString("utf8")) as [unknown, unknown];
    if (typeof at !== "string" || !CURSOR_TIME.test(at) || typeof id !== "string" || !/^[0-9a-f-]{36}$/i.test(id)) throw new Error();
    const date = new Date(at);
    // Round-trips only if every field was in range (no month 13, no 25:00).
    if (Number.isNaN(date.getTime()) || date.toISOString() !== at) throw new Error();
    return { at: date, id };
  } catch {
    throw invalid("cursor is not one this API returned", [{ path: "/cursor", message: "malformed" }]);
  }
}

/** The caller's conversations, most recent activity (creation or newest message) first. */
export async function listConversations(ctx: Context, actor: Actor, page: { limit?: number; cursor?: string }): Promise<List<Conversation>> {
  const limit = page.limit ?? 20;
  const cursor = page.cursor ? decodeCursor(page.cursor) : undefined;
  const rows = await ctx.db
    .select({ conversation: conversations })
    .from(participants)
    .innerJoin(conversations, eq(conversations.id, participants.conversationId))
    .where(
      and(
        eq(participants.userId, actor.userId),
        cursor
          ? or(lt(conversations.lastActivityAt, cursor.at), and(eq(conversations.lastActivityAt, cursor.at), lt(conversations.id, cursor.id)))
          : undefined,
      ),
    )
    .orderBy(desc(conversations.lastActivityAt), desc(conversations.id))
    .limit(limit + 1);
  const hasMore = rows.length > limit;
  const page_ = rows.slice(0, limit).map((r) => r.conversation);
  const last = page_[page_.length - 1];
  const data = await buildConversations(ctx.db, page_, actor.userId);
  return listOf(data, hasMore, hasMore && last ? encodeCursor({ at: last.lastActivityAt, id: last.id }) : null);
}

export async function getConversation(ctx: Context, actor: Actor, conversationId: string): Promise<Conversation> {
  const { conversation } = await requireMembership(ctx.db, conversationId, actor.userId);
  return buildOne(ctx.db, conversation, actor.userId);
}

/** Owner or admin of a group, either side of a direct conversation. Messages go with it. */
export async function deleteConversation(ctx: Context, actor: Actor, conversationId: string): Promise<void> {
  await withTransaction(ctx, async (tx, after) => {
    const m = await requireMembership(tx, conversationId, actor.userId, { lock: true });
    if (m.conversation.type === "group") requireManager(m, "delete a group");
    const userIds = await memberIds(tx, conversationId);
    await tx.delete(conversations).where(eq(conversations.id, conversationId));
    const deletedAt = new Date().toISOString();
    await recordEvent(ctx, tx, "conversation.deleted", { conversationId, deletedBy: actor.userId, deletedAt });
    after(async () => {
      ctx.fanout.toUsers(userIds, "conversation:removed", { conversationId });
      await ctx.fanout.leaveConversation(userIds, conversationId);
    });
  });
}

function requireGroup(m: Membership, action: string) {
  if (m.conversation.type === "direct") throw conflict(`A direct conversation cannot ${action}`);
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
        const joined = await buildOne(ctx.db, m.conversation, added[0]!);
        ctx.fanout.toUsers(added, "conversation:joined", joined);
      });
    }
    return buildOne(tx, m.conversation, actor.userId);
  });
}

async function ownerCount(tx: Executor, conversationId: string): Promise<number> {
  return tx.$count(participants, and(eq(participants.conversationId, conversationId), eq(participants.role, "owner")));
}

async function requireTarget(tx: Executor, conversationId: string, userId: string): Promise<ParticipantRow> {
  const [target] = await tx
    .select()
    .from(participants)
    .where(and(eq(participants.conversationId, conversationId), eq(participants.userId, userId)));
  if (!target) throw notFound("Participant");
  return target;
}

/**
 * Owner/admin changes a role; only an owner grants or takes away `owner`. The last owner stays
 * owner whoever asks (409 before 403: the request could never succeed).
 */
export async function updateParticipantRole(ctx: Context, actor: Actor, conversationId: string, userId: string, role: Role): Promise<Participant> {
  return withTransaction(ctx, async (tx, after) => {
    const m = await requireMembership(tx, conversationId, actor.userId, { lock: true });
    requireGroup(m, "change roles");
    requireManager(m, "change roles");
    const target = await requireTarget(tx, conversationId, userId);
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
async function passOwnershipIfNone(ctx: Context, tx: Transaction, after: AfterCommit, conversationId: string): Promise<void> {
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

/**
 * Removes a participant, or leaves. Everyone may leave, the last owner of a group too (ownership
 * passes on), and either side of a direct conversation (the other keeps it; asking for it again
 * brings the leaver back). Owner/admin remove others from a group (admins not owners), never its
 * last owner (409 before 403: no one could).
 */
export async function removeParticipant(ctx: Context, actor: Actor, conversationId: string, userId: string): Promise<void> {
  await withTransaction(ctx, async (tx, after) => {
    const m = await requireMembership(tx, conversationId, actor.userId, { lock: true });
    const leaving = userId === actor.userId;
    if (!leaving) {
      requireGroup(m, "lose a participant; leave or delete it instead");
      const target = await requireTarget(tx, conversationId, userId);
      if (target.role === "owner" && (await ownerCount(tx, conversationId)) === 1) {
        throw conflict("The last owner cannot be removed; make another participant owner first");
      }
      requireManager(m, "remove participants");
      if (target.role === "owner" && m.participant.role !== "owner") throw forbidden("Only an owner can remove an owner");
    }
    await detach(ctx, tx, after, conversationId, userId, actor.userId);
    if (leaving && m.conversation.type === "group" && m.participant.role === "owner") await passOwnershipIfNone(ctx, tx, after, conversationId);
  });
}

/** Keeps conversations.member_count in step with the rows added or removed; returns the new count. */
async function changeMemberCount(tx: Transaction, conversationId: string, by: number): Promise<number> {
  const [row] = await tx
    .update(conversations)
    .set({ memberCount: sql`${conversations.memberCount} + ${by}` })
    .where(eq(conversations.id, conversationId))
    .returning({ memberCount: conversations.memberCount });
  return row?.memberCount ?? 0;
}

/**
 * Deletes the participant row and their read marks (a returning participant starts with the
 * history read, from their new join time), records participant.removed and moves their sockets out.
 */
async function detach(ctx: Context, tx: Transaction, after: AfterCommit, conversationId: string, userId: string, by: string) {
  await tx.delete(participants).where(and(eq(participants.conversationId, conversationId), eq(participants.userId, userId)));
  await forgetReadMarks(tx, conversationId, userId);
  await changeMemberCount(tx, conversationId, -1);
  const timestamp = new Date().toISOString();
  await recordEvent(ctx, tx, "participant.removed", { conversationId, userId, removedBy: by, timestamp });
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
    .for("update", { of: conversations });
  for (const { conversationId, role, type } of memberships) {
    await detach(ctx, tx, after, conversationId, userId, userId);
    if (type === "group" && role === "owner") await passOwnershipIfNone(ctx, tx, after, conversationId);
  }
}
