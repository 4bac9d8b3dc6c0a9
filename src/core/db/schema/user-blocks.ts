import { index, pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { createdAt } from "./columns";
import { users } from "./users";

/** A user's own blocks: `blockerId` blocks `blockedId`. Owned by src/moderation/. */
export const userBlocks = pgTable(
  "user_blocks",
  {
    blockerId: text("blocker_id")
      .notNull()
      .references(() => users.externalId),
    blockedId: text("blocked_id")
      .notNull()
      .references(() => users.externalId),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.blockerId, t.blockedId] }),
    // "Who blocks me": the send statement, presence reads and the refusals ask by the blocked side.
    index("user_blocks_blocked_idx").on(t.blockedId, t.blockerId),
  ],
);

export type UserBlockRow = typeof userBlocks.$inferSelect;
