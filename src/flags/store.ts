import { and, desc, eq, lt, or } from "drizzle-orm";
import type { Executor } from "../core/db/client";
import { type MessageFlagRow, messageFlags } from "../core/db/schema";
import { EXTERNAL_ID_PATTERN } from "../core/auth";
import { invalid } from "../core/errors";

/*
 * The message_flags table's queries. A flag is keyed by its message and its user; the review
 * queue reads message_flags_queue_idx backwards, keyset-paged on (created_at, message_id, user_id).
 */

export async function findFlag(db: Executor, messageId: string, userId: string): Promise<MessageFlagRow | undefined> {
  const [row] = await db
    .select()
    .from(messageFlags)
    .where(and(eq(messageFlags.messageId, messageId), eq(messageFlags.userId, userId)));
  return row;
}

/** Stores a flag unless the user already flagged the message: undefined then. */
export async function insertFlag(db: Executor, flag: Omit<MessageFlagRow, "createdAt">): Promise<MessageFlagRow | undefined> {
  const [row] = await db.insert(messageFlags).values(flag).onConflictDoNothing().returning();
  return row;
}

/** A position in the review queue: the last flag shown. Opaque to clients. */
export type FlagCursor = { at: Date; messageId: string; userId: string };

export const encodeFlagCursor = (row: MessageFlagRow) => Buffer.from(JSON.stringify([row.createdAt.toISOString(), row.messageId, row.userId])).toString("base64url");

const EXTERNAL_ID = new RegExp(EXTERNAL_ID_PATTERN);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What toISOString gives for a year 1–9999 (Postgres takes no other). */
const ISO = /^(?!0000)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function decodeFlagCursor(value: string): FlagCursor {
  try {
    const [at, messageId, userId] = JSON.parse(Buffer.from(value, "base64url").toString("utf8")) as unknown[];
    if (typeof at !== "string" || !ISO.test(at) || typeof messageId !== "string" || !UUID.test(messageId) || typeof userId !== "string" || !EXTERNAL_ID.test(userId)) {
      throw new Error();
    }
    const date = new Date(at);
    if (Number.isNaN(date.getTime()) || date.toISOString() !== at) throw new Error();
    return { at: date, messageId, userId };
  } catch {
    throw invalid("cursor is not one this API returned", [{ path: "/cursor", message: "malformed" }]);
  }
}

/** Up to `limit` flags, newest first, after `cursor`. */
export function flagQueue(db: Executor, limit: number, cursor: FlagCursor | undefined): Promise<MessageFlagRow[]> {
  const { createdAt, messageId, userId } = messageFlags;
  const after =
    cursor &&
    or(
      lt(createdAt, cursor.at),
      and(eq(createdAt, cursor.at), or(lt(messageId, cursor.messageId), and(eq(messageId, cursor.messageId), lt(userId, cursor.userId)))),
    );
  return db.select().from(messageFlags).where(after).orderBy(desc(createdAt), desc(messageId), desc(userId)).limit(limit);
}
