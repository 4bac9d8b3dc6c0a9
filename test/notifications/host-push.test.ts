import { expect, test } from "bun:test";
import { type NotificationMessage, pushesFor } from "../../examples/host/push";

const message = {
  id: "0192f4c1-a2b3-7c4d-8e9f-0a1b2c3d4e5f",
  conversationId: "0192f4c1-0000-7000-8000-000000000001",
  seq: 7,
  senderId: "ann",
  content: "",
  attachments: [{ url: "https://files.example/a.png" }, { url: "https://files.example/b.png" }],
  replyTo: null,
  clientMessageId: null,
  metadata: {},
  reactions: [],
  isEdited: false,
  isDeleted: false,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  editedAt: null,
  deletedAt: null,
} as unknown as NotificationMessage["message"];

test("the example host turns one notification.message into one push per device of each recipient", () => {
  const pushes = pushesFor(
    {
      message,
      recipients: [
        { userId: "bob", mentioned: true, unreadCount: 3, unreadMentionCount: 1 },
        { userId: "cid", mentioned: false, unreadCount: 1, unreadMentionCount: 0 },
      ],
    },
    (userId) => (userId === "bob" ? [{ platform: "ios", token: "apns-bob" }] : [{ platform: "android", token: "fcm-cid" }, { platform: "web", token: "fcm-cid-web" }]),
    (userId) => userId.toUpperCase(),
  );
  expect(pushes.map((p) => [p.provider, p.userId])).toEqual([["apns", "bob"], ["fcm", "cid"], ["fcm", "cid"]]);
  expect(pushes[0]).toEqual({
    provider: "apns",
    userId: "bob",
    token: "apns-bob",
    headers: { "apns-push-type": "alert", "apns-priority": "10", "apns-collapse-id": message.id },
    body: {
      aps: { alert: { title: "ANN mentioned you", body: "sent 2 attachments" }, badge: 3, sound: "default", "thread-id": message.conversationId },
      conversationId: message.conversationId,
      messageId: message.id,
    },
  });
  expect(pushes[1]).toMatchObject({
    body: {
      message: {
        token: "fcm-cid",
        notification: { title: "ANN", body: "sent 2 attachments" },
        data: { conversationId: message.conversationId, messageId: message.id, unreadCount: "1" },
        android: { collapse_key: message.id, notification: { tag: message.conversationId, notification_count: 1 } },
      },
    },
  });
});
