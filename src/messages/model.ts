import { type Static, t } from "elysia";
import { ExternalId, HttpUrl, Limit, ListOf, Metadata, Uuid } from "../core/schemas";

export const Attachment = t.Object({
  url: HttpUrl,
  type: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
  name: t.Optional(t.String({ minLength: 1, maxLength: 255 })),
  mimeType: t.Optional(t.String({ pattern: "^[\\w.+-]+/[\\w.+-]+$", maxLength: 127 })),
  size: t.Optional(t.Integer({ minimum: 0 })),
  width: t.Optional(t.Integer({ minimum: 0, maximum: 100000 })),
  height: t.Optional(t.Integer({ minimum: 0, maximum: 100000 })),
  duration: t.Optional(t.Number({ minimum: 0 })),
});

/**
 * The service counts characters against MESSAGE_MAX_LENGTH (at most 65536); TypeBox counts
 * UTF-16 units, so its hard bound allows two per character.
 */
const Content = t.String({ maxLength: 2 * 65536 });
export const ClientMessageId = t.String({ minLength: 1, maxLength: 128 });
/** Users a message mentions: participants of its conversation; duplicates collapse. */
export const Mentions = t.Array(ExternalId, { maxItems: 50, description: "Up to 50 external ids of participants of the conversation" });

export const SendMessage = t.Object({
  content: t.Optional(Content),
  attachments: t.Optional(t.Array(Attachment, { maxItems: 10 })),
  replyTo: t.Optional(t.Union([Uuid, t.Null()])),
  /** Makes the message a reply in the thread of this top-level message of the conversation. */
  parentId: t.Optional(t.Union([Uuid, t.Null()])),
  clientMessageId: t.Optional(ClientMessageId),
  metadata: t.Optional(Metadata),
  mentions: t.Optional(Mentions),
});
export type SendMessage = Static<typeof SendMessage>;

/** Without `mentions`, the message keeps the ones it has; with it, they are replaced. */
export const EditMessage = t.Object({ content: Content, mentions: t.Optional(Mentions) });
export type EditMessage = Static<typeof EditMessage>;

export const ReactionSummary = t.Object({ emoji: t.String(), count: t.Integer(), userIds: t.Array(t.String()) });
export type ReactionSummary = Static<typeof ReactionSummary>;

export const Message = t.Object({
  id: t.String({ format: "uuid" }),
  conversationId: t.String({ format: "uuid" }),
  seq: t.Integer(),
  senderId: t.String(),
  content: t.String(),
  attachments: t.Array(t.Any()),
  replyTo: t.Union([t.String(), t.Null()]),
  parentId: t.Union([t.String({ format: "uuid" }), t.Null()]),
  replyCount: t.Integer({ minimum: 0 }),
  lastReplyAt: t.Union([t.String({ format: "date-time" }), t.Null()]),
  clientMessageId: t.Union([t.String(), t.Null()]),
  metadata: t.Record(t.String(), t.Unknown()),
  mentions: t.Array(t.String()),
  reactions: t.Array(ReactionSummary),
  isEdited: t.Boolean(),
  isDeleted: t.Boolean(),
  createdAt: t.String({ format: "date-time" }),
  updatedAt: t.String({ format: "date-time" }),
  editedAt: t.Union([t.String({ format: "date-time" }), t.Null()]),
  deletedAt: t.Union([t.String({ format: "date-time" }), t.Null()]),
  pinnedAt: t.Union([t.String({ format: "date-time" }), t.Null()]),
  pinnedBy: t.Union([t.String(), t.Null()]),
});
export type Message = Static<typeof Message>;
export const MessageList = ListOf(Message);
/**
 * A conversation's page: a list, with `truncated: true` when its cursor is older than what retention
 * kept (the page then starts at the oldest kept message); absent otherwise.
 */
export const MessageListPage = t.Object({
  ...ListOf(Message).properties,
  truncated: t.Optional(t.Boolean({ description: "Present (true) when the cursor is older than what retention kept: the page starts at the oldest kept message" })),
});
export type MessageListPage = Static<typeof MessageListPage>;

export const MessagePage = t.Object({
  limit: Limit(50, 100),
  before: t.Optional(Uuid),
  after: t.Optional(Uuid),
});
export type MessagePage = Static<typeof MessagePage>;

/** A conversation's page: top-level messages, or every message with `includeReplies=true`. */
export const ConversationMessagePage = t.Composite([
  MessagePage,
  t.Object({ includeReplies: t.Optional(t.Boolean({ description: "true: replies in threads too (default: top-level messages only)" })) }),
]);
export type ConversationMessagePage = Static<typeof ConversationMessagePage>;

export const ThreadUpdated = t.Object({
  conversationId: t.String({ format: "uuid" }),
  parentId: t.String({ format: "uuid" }),
  replyCount: t.Integer({ minimum: 0 }),
  lastReplyAt: t.Union([t.String({ format: "date-time" }), t.Null()]),
});
export type ThreadUpdated = Static<typeof ThreadUpdated>;

/** `q` is 1–200 characters; TypeBox counts UTF-16 units, so its bound allows two per character (the service counts). */
export const SearchMessages = t.Object({
  q: t.String({ minLength: 1, maxLength: 400, description: "1–200 characters: every word must match a whole word, the last one a prefix" }),
  conversationId: t.Optional(Uuid),
  senderId: t.Optional(ExternalId),
  limit: Limit(20, 100),
  cursor: t.Optional(Uuid),
});
export type SearchMessages = Static<typeof SearchMessages>;

export const ConversationMessagesParams = t.Object({ id: Uuid });
export const MessageParams = t.Object({ id: Uuid });

export const MessageDeleted = t.Object({ messageId: t.String(), conversationId: t.String(), deletedAt: t.String() });
export type MessageDeleted = Static<typeof MessageDeleted>;

export const MessagePinned = t.Object({
  messageId: t.String({ format: "uuid" }),
  conversationId: t.String({ format: "uuid" }),
  pinnedBy: t.String(),
  pinnedAt: t.String({ format: "date-time" }),
});
export type MessagePinned = Static<typeof MessagePinned>;
export const MessageUnpinned = t.Object({
  conversationId: t.String({ format: "uuid" }),
  messageId: t.String({ format: "uuid" }),
  unpinnedBy: t.String(),
  unpinnedAt: t.String({ format: "date-time" }),
});
export type MessageUnpinned = Static<typeof MessageUnpinned>;

/** A page of pins, most recently pinned first; `nextCursor` goes back as `cursor`. */
export const PinPage = t.Object({ limit: Limit(50, 100), cursor: t.Optional(t.String({ maxLength: 512 })) });
export type PinPage = Static<typeof PinPage>;

/** Socket payloads: the REST bodies plus the ids REST carries in the path. */
export const SocketSendMessage = t.Composite([t.Object({ conversationId: Uuid }), SendMessage]);
export const SocketEditMessage = t.Composite([t.Object({ messageId: Uuid }), EditMessage]);
export const SocketDeleteMessage = t.Object({ messageId: Uuid });
export const SocketPinMessage = t.Object({ messageId: Uuid });
export const SocketListPins = t.Composite([t.Object({ conversationId: Uuid }), PinPage]);
export const SocketThreadReplies = t.Composite([t.Object({ parentId: Uuid }), MessagePage]);
/** At most one of lastMessageId and afterSeq (the service refuses both); neither: from the start. */
export const SocketSyncMessages = t.Object({
  conversationId: Uuid,
  lastMessageId: t.Optional(t.Union([Uuid, t.Null()])),
  afterSeq: t.Optional(t.Integer({ minimum: 0, maximum: 2_147_483_647 })),
});
export const SyncedMessages = t.Object({ messages: t.Array(Message), hasMore: t.Boolean(), truncated: t.Optional(t.Boolean()) });
export type SyncedMessages = Static<typeof SyncedMessages>;

export type { MessageUpdated } from "../client/wire";
