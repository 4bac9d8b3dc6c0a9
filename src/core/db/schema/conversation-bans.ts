import { index, pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { createdAt, timestampMs } from "./columns";
import { conversationRef } from "./conversations";
import { users } from "./users";

/**
 * Users banned from a group: removed, and not to be added back until `until` (null: until the ban
 * is lifted). An expired row is no ban; banning again replaces it. Owned by src/moderation/.
 */
export const conversationBans = pgTable(
  "conversation_bans",
  {
    conversationId: conversationRef(),
    userId: text("user_id")
      .notNull()
      .references(() => users.externalId),
    bannedBy: text("banned_by").notNull(),
    until: timestampMs("until"),
    reason: text("reason"),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.conversationId, t.userId] }), index("conversation_bans_user_idx").on(t.userId)],
);

export type ConversationBanRow = typeof conversationBans.$inferSelect;
