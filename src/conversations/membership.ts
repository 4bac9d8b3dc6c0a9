import { and, eq, type Placeholder, sql } from "drizzle-orm";
import type { Executor } from "../core/db/client";
import { preparedStatements } from "../core/db/prepared";
import { type ConversationRow, conversations, type ParticipantRow, participants } from "../core/db/schema";
import { conflict, forbidden, notFound } from "../core/errors";

export type Membership = { conversation: ConversationRow; participant: ParticipantRow };

/**
 * The conversation as seen by `userId`. A conversation the user is not part of is NOT_FOUND, like
 * one that does not exist: outsiders learn nothing about it.
 */
export async function requireMembership(db: Executor, conversationId: string, userId: string, opts: { lock?: boolean } = {}): Promise<Membership> {
  const prepared = opts.lock ? undefined : statements(db);
  const [row] = prepared
    ? await prepared.membership.execute({ conversationId, userId })
    : opts.lock
      ? await membershipQuery(db, conversationId, userId).for("no key update", { of: conversations })
      : await membershipQuery(db, conversationId, userId);
  if (!row) throw notFound("Conversation");
  return row;
}

const membershipQuery = (db: Executor, conversationId: string | Placeholder, userId: string | Placeholder) =>
  db
    .select({ conversation: conversations, participant: participants })
    .from(conversations)
    .innerJoin(participants, and(eq(participants.conversationId, conversations.id), eq(participants.userId, userId)))
    .where(eq(conversations.id, conversationId));

const statements = preparedStatements((db) => ({
  membership: membershipQuery(db, sql.placeholder("conversationId"), sql.placeholder("userId")).prepare("require_membership"),
  // Every handshake reads it: drizzle's query builder cost more CPU than the query itself.
  conversationIds: conversationIdsOfUser(db, sql.placeholder("userId")).prepare("conversation_ids_of"),
}));

/** The ids of the conversations `userId` is a participant of now, as a subquery for other features' queries. */
export const conversationIdsOfUser = (db: Executor, userId: string | Placeholder) =>
  db.select({ id: participants.conversationId }).from(participants).where(eq(participants.userId, userId));

/** The conversations a user is in: the rooms their sockets join on connect. */
export async function conversationIdsOf(db: Executor, userId: string): Promise<string[]> {
  const prepared = statements(db);
  const rows = prepared ? await prepared.conversationIds.execute({ userId }) : await conversationIdsOfUser(db, userId);
  return rows.map((r) => r.id);
}

/** Who is in a conversation now, in user id order. */
export async function memberIds(db: Executor, conversationId: string): Promise<string[]> {
  const rows = await db.select({ userId: participants.userId }).from(participants).where(eq(participants.conversationId, conversationId)).orderBy(participants.userId);
  return rows.map((r) => r.userId);
}

/** A participant of the conversation, as the target of a change (NOT_FOUND when not in it). */
export async function requireParticipant(db: Executor, conversationId: string, userId: string): Promise<ParticipantRow> {
  const [target] = await db
    .select()
    .from(participants)
    .where(and(eq(participants.conversationId, conversationId), eq(participants.userId, userId)));
  if (!target) throw notFound("Participant");
  return target;
}

export async function ownerCount(db: Executor, conversationId: string): Promise<number> {
  return db.$count(participants, and(eq(participants.conversationId, conversationId), eq(participants.role, "owner")));
}

export const isManager = (p: ParticipantRow) => p.role === "owner" || p.role === "admin";

export function requireManager(m: Membership, action: string): void {
  if (!isManager(m.participant)) throw forbidden(`Only an owner or admin can ${action}`);
}

export function requireGroup(m: Membership, action: string): void {
  if (m.conversation.type === "direct") throw conflict(`A direct conversation cannot ${action}`);
}
