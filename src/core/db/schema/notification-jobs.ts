import { index, pgTable, uuid } from "drizzle-orm/pg-core";
import { timestampMs } from "./columns";

/**
 * Messages whose `notification.message` recipients are still to be worked out, NOTIFY_DELAY_MS
 * after the send. Written in the send's transaction (only while webhooks are on), so an instance
 * that dies after acknowledging a send leaves the job for another; claimed by every instance's
 * notifier with FOR UPDATE SKIP LOCKED and deleted in the transaction that writes the events.
 * Owned by src/notifications/.
 *
 * No foreign key to messages: the send path would pay its check on every row, and a job whose
 * message is gone (its conversation deleted, retention) is simply dropped when it comes due.
 */
export const notificationJobs = pgTable(
  "notification_jobs",
  {
    messageId: uuid("message_id").primaryKey(),
    dueAt: timestampMs("due_at").notNull(),
  },
  (t) => [index("notification_jobs_due_idx").on(t.dueAt)],
);

export type NotificationJobRow = typeof notificationJobs.$inferSelect;
