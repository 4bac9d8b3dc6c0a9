import { index, integer, pgTable, primaryKey, text, uuid } from "drizzle-orm/pg-core";
import { conversationRef } from "./conversations";
import { messages } from "./messages";

/**
 * One row per user a message mentions (the sender excepted: their own messages are never unread),
 * written by the send statement, replaced by an edit, removed with the message's deletion. The key
 * serves unread mention counts: a user's mentions in a conversation above their read marker.
 */
export const mentions = pgTable(
  "mentions",
  {
    userId: text("user_id").notNull(),
    conversationId: conversationRef(),
    seq: integer("seq").notNull(),
    messageId: uuid("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
  },
  (t) => [primaryKey({ columns: [t.userId, t.conversationId, t.seq] }), index("mentions_message_idx").on(t.messageId)],
);

export type MentionRow = typeof mentions.$inferSelect;
