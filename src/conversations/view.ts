import { asc, inArray } from "drizzle-orm";
import type { Executor } from "../core/db/client";
import { type ConversationRow, type ParticipantRow, participants } from "../core/db/schema";
import { iso } from "../core/schemas";
import { messagesByIds } from "../messages/service";
import { unreadCounts } from "../receipts/service";
import type { Conversation, Participant } from "./model";

export function toParticipant(row: ParticipantRow): Participant {
  return { userId: row.userId, role: row.role, joinedAt: row.joinedAt.toISOString(), lastReadSeq: row.lastReadSeq };
}

/** Full Conversation objects for `viewerId`: participants, last message and the viewer's unread count. */
export async function buildConversations(db: Executor, rows: ConversationRow[], viewerId: string): Promise<Conversation[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const lastIds = rows.map((r) => r.lastMessageId).filter((id): id is string => id !== null);
  const [memberRows, lastList, unread] = await Promise.all([
    db.select().from(participants).where(inArray(participants.conversationId, ids)).orderBy(asc(participants.joinedAt), asc(participants.userId)),
    messagesByIds(db, lastIds),
    unreadCounts(db, viewerId, ids),
  ]);
  const lastMessages = new Map(lastList.map((m) => [m.id, m]));
  const members = new Map<string, Participant[]>();
  const viewerRows = new Map<string, ParticipantRow>();
  for (const row of memberRows) {
    if (row.userId === viewerId) viewerRows.set(row.conversationId, row);
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
    unreadCount: unread.get(row.id)?.unreadCount ?? 0,
    unreadMentionCount: unread.get(row.id)?.unreadMentionCount ?? 0,
    slowModeSeconds: row.slowModeSeconds,
    ...muteOf(viewerRows.get(row.id)),
  }));
}

/** A participant's mute as the API shows it: one whose time has passed reads as not muted. */
export function muteOf(row: Pick<ParticipantRow, "muted" | "mutedUntil"> | undefined, now = new Date()): { muted: boolean; mutedUntil: string | null } {
  if (!row?.muted || (row.mutedUntil && row.mutedUntil <= now)) return { muted: false, mutedUntil: null };
  return { muted: true, mutedUntil: iso(row.mutedUntil) };
}

export async function buildConversation(db: Executor, row: ConversationRow, viewerId: string): Promise<Conversation> {
  return (await buildConversations(db, [row], viewerId))[0]!;
}

/** Webhook payloads carry the conversation without the viewer's own fields (unread counts, mute). */
export const forWebhook = ({ unreadCount: _, unreadMentionCount: __, muted: _m, mutedUntil: _u, ...conversation }: Conversation) => conversation;
