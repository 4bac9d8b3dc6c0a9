import { type Static, t } from "elysia";
import { Message } from "../messages/model";

/** One person a message notifies, with their unread totals over every conversation (a badge). */
export const NotificationRecipient = t.Object({
  userId: t.String(),
  /** The message mentions them. */
  mentioned: t.Boolean(),
  unreadCount: t.Integer(),
  unreadMentionCount: t.Integer(),
});
export type NotificationRecipient = Static<typeof NotificationRecipient>;

/** The data of a `notification.message` webhook: the message and up to 1,000 of its recipients. */
export const NotificationMessage = t.Object({
  message: Message,
  recipients: t.Array(NotificationRecipient, { minItems: 1, maxItems: 1000 }),
});
export type NotificationMessage = Static<typeof NotificationMessage>;
