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
     * The participant's own read marker after they marked a message unread (that message's seq - 1),
     * seen by them only: their unread counts start from it, while lastReadSeq, which others see,
     * stays. Null when it is lastReadSeq; reading moves it forward as it moves lastReadSeq.
     */
    ownReadSeq: integer("own_read_seq"),
    /**
     * Messages this participant sent with a seq above their own read marker. Their own messages are
     * never unread, so their unread count is the conversation's last_seq minus the marker minus
     * these, minus other people's deleted messages above the marker: no scan of the history.
     */
    sentSinceRead: integer("sent_since_read").notNull().default(0),
    /**
     * When this participant's last message was stored, kept by the send statement only while the
     * conversation is in slow mode (the one reader).
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
