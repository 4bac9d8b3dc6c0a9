import { sql } from "drizzle-orm";
import { boolean, check, index, integer, pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { timestampMs } from "./columns";
import { conversationRef } from "./conversations";
import { users } from "./users";

export const participants = pgTable(
  "participants",
  {
    conversationId: conversationRef(),
    userId: text("user_id")
      .notNull()
      .references(() => users.externalId),
    role: text("role", { enum: ["owner", "admin", "member"] }).notNull(),
    joinedAt: timestampMs("joined_at").notNull().defaultNow(),
    /** Read watermark: every message with seq <= lastReadSeq is read. Never moves backwards. */
    lastReadSeq: integer("last_read_seq").notNull().default(0),
    lastReadAt: timestampMs("last_read_at"),
    /**
     * When this participant's last message was stored, kept by the send statement only while the
     * conversation is in slow mode (the one reader): other sends write nothing more.
     */
    lastSentAt: timestampMs("last_sent_at"),
    /** Muted by this participant: notifications skip them while muted and mutedUntil (if set) is ahead. */
    muted: boolean("muted").notNull().default(false),
    /** When a mute ends by itself; null with `muted`: until unmuted. */
    mutedUntil: timestampMs("muted_until"),
  },
  (t) => [
    primaryKey({ columns: [t.conversationId, t.userId] }),
    index("participants_user_idx").on(t.userId),
    check("participants_role_check", sql`${t.role} in ('owner', 'admin', 'member')`),
  ],
);

export type ParticipantRow = typeof participants.$inferSelect;
export type Role = ParticipantRow["role"];
