import { and, eq, type Placeholder, sql } from "drizzle-orm";
import type { Executor, Storage } from "../core/db/client";
import type { ConnectingUser } from "../core/realtime/server";
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
}));

/** The ids of the conversations `userId` is a participant of now, as a subquery for other features' queries. */
export const conversationIdsOfUser = (db: Executor, userId: string | Placeholder) =>
  db.select({ id: participants.conversationId }).from(participants).where(eq(participants.userId, userId));

/**
 * What a new socket needs, in one statement: the token's user as authentication judges them
 * (undefined when not synced or deleted) and the conversations they are in, the rooms the socket
 * joins. Plain SQL, prepared by the driver, the rooms as JSON: a handshake's own cost is mostly
 * its round trips and its query building.
 */
export async function connectingUser(storage: Storage, userId: string): Promise<ConnectingUser> {
  const [row] = await storage.query<ConnectingRow>(CONNECTING_USER, [userId]);
  if (!row) return { user: undefined, conversationIds: [] };
  const { revokedBefore, suspended, suspendedUntil, rooms } = row;
  return { user: { revokedBefore, suspended, suspendedUntil: suspendedUntil === null ? null : new Date(suspendedUntil) }, conversationIds: rooms };
}

type ConnectingRow = { revokedBefore: number | null; suspended: boolean; suspendedUntil: number | null; rooms: string[] };

// Numbers as float8, which both drivers read as numbers (int8 comes as text from postgres.js).
export const CONNECTING_USER = `select u.tokens_revoked_before::float8 as "revokedBefore", u.suspended,
  (extract(epoch from u.suspended_until) * 1000)::float8 as "suspendedUntil",
  coalesce((select json_agg(p.conversation_id) from participants p where p.user_id = u.external_id), '[]'::json) as rooms
from users u where u.external_id = $1 and u.deleted_at is null`;

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
