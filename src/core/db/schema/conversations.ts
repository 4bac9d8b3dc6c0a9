import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { createdAt, timestampMs, updatedAt } from "./columns";

export const conversations = pgTable(
  "conversations",
  {
    id: uuid("id").primaryKey(),
    type: text("type", { enum: ["direct", "group"] }).notNull(),
    name: text("name"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default({}),
    createdBy: text("created_by").notNull(),
    /** "<a> <b>" with the two external ids sorted: makes a direct conversation unique per pair. */
    directKey: text("direct_key").unique(),
    /** Seq of the newest message. Incremented in the sending transaction, so seqs are gapless. */
    lastSeq: integer("last_seq").notNull().default(0),
    /**
     * Seq of the newest message removed for good by retention (0: none): every message up to it is
     * gone. Sync and paging from a point at or below it answer `truncated`; lastSeq is never lowered,
     * so seqs are not reused.
     */
    expiredUpToSeq: integer("expired_up_to_seq").notNull().default(0),
    lastMessageId: uuid("last_message_id"),
    lastMessageAt: timestampMs("last_message_at"),
    /**
     * Participants, kept in the transactions that add or remove them, so that presence can tell a
     * crowded room without counting it.
     */
    memberCount: integer("member_count").notNull().default(0),
    /** A member sends at most one message per this many seconds (0: no limit); owners and admins are exempt. */
    slowModeSeconds: integer("slow_mode_seconds").notNull().default(0),
    /** Creation or newest message: the order of a user's conversation list. */
    lastActivityAt: timestampMs("last_activity_at").notNull().defaultNow(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check("conversations_type_check", sql`${t.type} in ('direct', 'group')`),
    check("conversations_slow_mode_check", sql`${t.slowModeSeconds} between 0 and 3600`),
    index("conversations_activity_idx").on(t.lastActivityAt.desc(), t.id.desc()),
  ],
);

/** The conversation a row belongs to; deleting the conversation deletes the row. */
export const conversationRef = () => uuid("conversation_id")
  .notNull()
  .references(() => conversations.id, { onDelete: "cascade" });

export type ConversationRow = typeof conversations.$inferSelect;
