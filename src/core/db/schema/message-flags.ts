import { index, pgTable, primaryKey, text, uuid } from "drizzle-orm/pg-core";
import { createdAt } from "./columns";
import { conversationRef } from "./conversations";
import { messages } from "./messages";
import { users } from "./users";

/**
 * Messages participants reported for review: one row per user and message (flagging again keeps
 * the first). The host reads them newest first (`GET /api/flags`). Owned by src/flags/.
 */
export const messageFlags = pgTable(
  "message_flags",
  {
    messageId: uuid("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    userId: text("user_id")
      .notNull()
      .references(() => users.externalId),
    conversationId: conversationRef(),
    reason: text("reason"),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.messageId, t.userId] }),
    // The review queue: newest first, keyset-paged on (created_at, message_id, user_id).
    index("message_flags_queue_idx").on(t.createdAt, t.messageId, t.userId),
  ],
);

export type MessageFlagRow = typeof messageFlags.$inferSelect;
