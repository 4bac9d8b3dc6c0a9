/**
 * Turning the chat service's `notification.message` webhook into push notifications. The service
 * has already decided who is away (no socket on any instance, not read up to the message, the
 * room-size, thread, mute and block rules); the host only knows each user's devices and sends.
 * `recipients` holds at most 1,000 users per event; a large group's message comes as several
 * events with the same `message`, each with its own event id.
 */
import type { Message } from "../../src/client/wire";

export type NotificationRecipient = { userId: string; mentioned: boolean; unreadCount: number; unreadMentionCount: number };
export type NotificationMessage = { message: Message; recipients: NotificationRecipient[] };

/** One device of one user, as the host registered it from its app (APNs device token or FCM registration token). */
export type Device = { platform: "ios" | "android" | "web"; token: string };

/** What to hand to APNs (`POST /3/device/<token>` with these headers and body) or to FCM (`messages:send`). */
export type Push =
  | { provider: "apns"; userId: string; token: string; headers: Record<string, string>; body: unknown }
  | { provider: "fcm"; userId: string; body: { message: unknown } };

/** The text of a notification: a mention says so; a message of attachments only says what it holds. */
export function previewOf(message: Message, mentioned: boolean, senderName: string): { title: string; body: string } {
  const text = message.content.trim() || (message.attachments.length === 1 ? "sent an attachment" : `sent ${message.attachments.length} attachments`);
  const body = text.length > 140 ? `${text.slice(0, 139)}…` : text;
  return { title: mentioned ? `${senderName} mentioned you` : senderName, body };
}

/**
 * The pushes of one event. `devicesOf` and `nameOf` are the host's own lookups (its device table and
 * user directory). The badge is the recipient's unread total over every conversation, as the
 * service counted it when it worked the recipients out; the conversation id groups a
 * conversation's notifications (APNs thread-id, an Android tag) and the message id collapses a
 * redelivered event into the same notification.
 */
export function pushesFor(data: NotificationMessage, devicesOf: (userId: string) => Device[], nameOf: (userId: string) => string): Push[] {
  const { message } = data;
  const pushes: Push[] = [];
  for (const recipient of data.recipients) {
    const { title, body } = previewOf(message, recipient.mentioned, nameOf(message.senderId));
    const ids = { conversationId: message.conversationId, messageId: message.id };
    for (const device of devicesOf(recipient.userId)) {
      if (device.platform === "ios") {
        pushes.push({
          provider: "apns",
          userId: recipient.userId,
          token: device.token,
          headers: { "apns-push-type": "alert", "apns-priority": "10", "apns-collapse-id": message.id },
          body: { aps: { alert: { title, body }, badge: recipient.unreadCount, sound: "default", "thread-id": message.conversationId }, ...ids },
        });
      } else {
        pushes.push({
          provider: "fcm",
          userId: recipient.userId,
          body: {
            message: {
              token: device.token,
              notification: { title, body },
              // FCM data values are strings.
              data: { ...ids, unreadCount: String(recipient.unreadCount) },
              android: { collapse_key: message.id, notification: { tag: message.conversationId, notification_count: recipient.unreadCount } },
            },
          },
        });
      }
    }
  }
  return pushes;
}
