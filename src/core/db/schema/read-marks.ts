import { integer, pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { timestampMs } from "./columns";
import { conversationRef } from "./conversations";

/**
 * One row each time a participant's read watermark advances, the newest 64 per participant kept,
 * none once they leave. The watermark itself lives on the participant; these rows answer "when
 * did X read message N" (the first mark at or above N).
 */
export const readMarks = pgTable(
  "read_marks",
  {
    conversationId: conversationRef(),
    userId: text("user_id").notNull(),
    seq: integer("seq").notNull(),
    readAt: timestampMs("read_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.conversationId, t.userId, t.seq] })],
);
