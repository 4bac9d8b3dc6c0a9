/**
 * The wire contract as plain TypeScript types: the objects, the error codes, the ack and every
 * Socket.IO event in both directions. Both sides import this module: the browser SDK (it must not
 * import anything else of the server) and the server, whose event maps are these and whose TypeBox
 * models are checked against them at compile time (src/core/realtime/wire-conformance.ts).
 */

/** The closed set of error codes of the contract. */
export type ErrorCode =
  | "VALIDATION_ERROR"
  | "UNAUTHORIZED"
  | "USER_NOT_FOUND"
  | "TOKEN_EXPIRED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  | "PAYLOAD_TOO_LARGE"
  | "RATE_LIMITED"
  | "INTERNAL"
  | "UNAVAILABLE";

export type ErrorBody = { code: ErrorCode; message: string; details?: unknown };

/** The answer to every client→server event that passes a callback. */
export type Ack<T> = { ok: true; data: T } | { ok: false; error: ErrorBody };

export type Metadata = Record<string, unknown>;

export type Attachment = {
  url: string;
  type?: string;
  name?: string;
  mimeType?: string;
  size?: number;
  width?: number;
  height?: number;
  duration?: number;
};

export type ReactionSummary = { emoji: string; count: number; userIds: string[] };

export type Message = {
  id: string;
  conversationId: string;
  /** Per conversation 1, 2, 3, … with no gaps, in commit order: the ordering and sync key. */
  seq: number;
  senderId: string;
  content: string;
  attachments: Attachment[];
  replyTo: string | null;
  /** The thread's top-level message, for a reply; null for a top-level message. */
  parentId: string | null;
  /** Replies in this message's thread, not counting deleted ones (0 for a reply). */
  replyCount: number;
  /** When the newest reply not deleted was sent; null when there is none. */
  lastReplyAt: string | null;
  clientMessageId: string | null;
  metadata: Metadata;
  /** External ids of the users the message mentions; `[]` once deleted. */
  mentions: string[];
  reactions: ReactionSummary[];
  isEdited: boolean;
  isDeleted: boolean;
  createdAt: string;
  updatedAt: string;
  editedAt: string | null;
  deletedAt: string | null;
  /** When the message was pinned to its conversation; null when it is not pinned. */
  pinnedAt: string | null;
  /** Who pinned it; null when it is not pinned. */
  pinnedBy: string | null;
};

export type Role = "owner" | "admin" | "member";
export type Participant = { userId: string; role: Role; joinedAt: string; lastReadSeq: number };

export type Conversation = {
  id: string;
  type: "direct" | "group";
  name: string | null;
  metadata: Metadata;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  lastMessage: Message | null;
  lastMessageAt: string | null;
  participants: Participant[];
  /** The reader's own count. */
  unreadCount: number;
  /** The reader's own: unread messages that mention them. */
  unreadMentionCount: number;
  /** A member sends at most one message per this many seconds (0: off); owners and admins are exempt. */
  slowModeSeconds: number;
  /** The reader's own mute; an expired one reads as not muted. */
  muted: boolean;
  /** When the reader's mute ends; null when not muted or muted until unmuted. */
  mutedUntil: string | null;
};
/** `PUT /api/conversations/:id/mute`. */
export type ConversationMute = { conversationId: string; muted: true; mutedUntil: string | null };

/** A user the caller blocks (`GET /api/me/blocks`). */
export type Block = { userId: string; createdAt: string };
/** A ban from a group (`POST/GET /api/conversations/:id/bans`); `until` null: until lifted. */
export type Ban = { conversationId: string; userId: string; bannedBy: string; until: string | null; reason: string | null; createdAt: string };

export type Presence = { userId: string; status: "online" | "offline"; lastSeen: string | null };

export type MessageUpdated = {
  messageId: string;
  conversationId: string;
  content: string;
  mentions: string[];
  isEdited: boolean;
  updatedAt: string;
  editedAt: string | null;
};
export type MessageDeleted = { messageId: string; conversationId: string; deletedAt: string };
export type ReactionChange = { messageId: string; conversationId: string; emoji: string; userId: string; totalCount: number };
export type MessageRead = { messageId: string; conversationId: string; userId: string; readAt: string };
export type ConversationRead = { conversationId: string; userId: string; upToMessageId: string | null; count: number; readAt: string };
/** The caller's own read marker moved back (mark unread); `lastReadSeq` is that marker, not the Participant's. */
export type ConversationUnread = { conversationId: string; userId: string; lastReadSeq: number; unreadCount: number };
/** The caller's totals over all their conversations (muted ones included). */
export type UnreadTotals = { unreadCount: number; unreadMentionCount: number; unreadConversations: number };
export type ParticipantChange = { conversationId: string; userId: string; timestamp: string };
/** A role changed: by PATCH, or because a group's last owner left and ownership passed on. */
export type ParticipantUpdated = { conversationId: string; userId: string; role: Role; timestamp: string };
export type ConversationRemoved = { conversationId: string };
/** A reply was stored or deleted: the parent's counters as they now are. */
export type ThreadUpdated = { conversationId: string; parentId: string; replyCount: number; lastReplyAt: string | null };
/** A message was pinned (the answer to a pin, the room's `message:pinned`, the `message.pinned` webhook). */
export type MessagePinned = { conversationId: string; messageId: string; pinnedBy: string; pinnedAt: string };
/** A message was unpinned, or deleted while pinned (`message:unpinned`, `message.unpinned`). */
export type MessageUnpinned = { conversationId: string; messageId: string; unpinnedBy: string; unpinnedAt: string };
/** A participant reported a message for review (`message:flag`, the `message.flagged` webhook). */
export type MessageFlag = { messageId: string; conversationId: string; userId: string; reason: string | null; createdAt: string };
/** Settings changed by PATCH /api/conversations/:id (also the `conversation.updated` webhook's data). */
export type ConversationUpdated = { conversationId: string; name: string | null; metadata: Metadata; slowModeSeconds: number; updatedBy: string; updatedAt: string };
export type UserOnline = { userId: string; conversationId?: string; timestamp: string };
export type UserOffline = { userId: string; conversationId?: string; lastSeen: string; timestamp: string };
export type Indicator = { conversationId: string; userId: string; type: "typing" | "recording"; isActive: boolean; timestamp: string };
export type Connected = { userId: string; socketId: string; rooms: string[]; timestamp: string };
export type SocketError = { code: ErrorCode; message: string; timestamp: string };

/** Client→server payloads. */
export type SendMessagePayload = {
  conversationId: string;
  content?: string;
  attachments?: Attachment[];
  replyTo?: string | null;
  parentId?: string | null;
  clientMessageId?: string;
  metadata?: Metadata;
  /** Up to 50 participants' external ids. */
  mentions?: string[];
};
/** Without `mentions` the message keeps its mentions; with it they are replaced. */
export type EditMessagePayload = { messageId: string; content: string; mentions?: string[] };
export type MessageIdPayload = { messageId: string };
/** `reason`: at most 500 characters, kept for the host's review. */
export type FlagMessagePayload = { messageId: string; reason?: string };
/** A page of a conversation's pins, as `GET /api/conversations/:id/pins` takes it: `nextCursor` goes back as `cursor`. */
export type ListPinsPayload = { conversationId: string; limit?: number; cursor?: string };
/**
 * Sync after `lastMessageId` or after `afterSeq` (a seq the client holds; at most one of the two),
 * or from the start with neither.
 */
export type SyncMessagesPayload = { conversationId: string; lastMessageId?: string | null; afterSeq?: number };
/**
 * `truncated: true` (absent otherwise): the starting point is older than what the service keeps
 * (MESSAGE_RETENTION_DAYS); `messages` start at the oldest kept one, and the client's copy has a hole.
 */
export type SyncedMessages = { messages: Message[]; hasMore: boolean; truncated?: boolean };
/** A page of a thread's replies, as `GET /api/messages/:id/replies` takes it. */
export type ThreadRepliesPayload = { parentId: string; limit?: number; before?: string; after?: string };
/** A list as REST answers it: `nextCursor` goes back as `before` (or `after`, paging forwards). */
export type MessageList = { data: Message[]; hasMore: boolean; nextCursor: string | null };
/** A conversation's page: `truncated: true` when its cursor is older than what the service keeps (absent otherwise). */
export type MessageListPage = MessageList & { truncated?: boolean };
export type ReactionPayload = { messageId: string; emoji: string };
export type ConversationReadPayload = { conversationId: string; upToMessageId?: string | null };
export type ConversationUnreadPayload = { conversationId: string; messageId: string };
export type ConversationIdPayload = { conversationId: string };
/** At most 1,000 participants' presence; `hasMore` when the conversation has more. */
export type PresenceSnapshot = { data: Presence[]; hasMore: boolean };
type Empty = Record<string, never>;

type Call<P, R> = (payload: P, ack?: (res: Ack<R>) => void) => void;
type OptionalCall<P, R> = (payload?: P, ack?: (res: Ack<R>) => void) => void;

export interface ClientToServerEvents {
  ping: OptionalCall<Empty, { timestamp: string }>;
  "message:send": Call<SendMessagePayload, Message>;
  "message:edit": Call<EditMessagePayload, Message>;
  "message:delete": Call<MessageIdPayload, MessageDeleted>;
  "messages:sync": Call<SyncMessagesPayload, SyncedMessages>;
  /** Not in the contract's list: the SDK's thread pages (README), as `GET /api/messages/:id/replies`. */
  "thread:replies": Call<ThreadRepliesPayload, MessageList>;
  "message:pin": Call<MessageIdPayload, MessagePinned>;
  "message:unpin": Call<MessageIdPayload, MessageUnpinned>;
  /** Not in the contract's list: the SDK's page of pins, as `GET /api/conversations/:id/pins`. */
  "pins:list": Call<ListPinsPayload, MessageList>;
  "message:flag": Call<FlagMessagePayload, MessageFlag>;
  "reaction:add": Call<ReactionPayload, ReactionChange>;
  "reaction:remove": Call<ReactionPayload, ReactionChange>;
  "message:read": Call<MessageIdPayload, MessageRead>;
  "conversation:read": Call<ConversationReadPayload, ConversationRead>;
  "conversation:unread": Call<ConversationUnreadPayload, ConversationUnread>;
  /** Not in ARCHITECTURE.md's list: GET /api/me/unread over the socket (README). */
  "unread:get": OptionalCall<Empty, UnreadTotals>;
  "typing:start": Call<ConversationIdPayload, Empty>;
  "typing:stop": Call<ConversationIdPayload, Empty>;
  "recording:start": Call<ConversationIdPayload, Empty>;
  "recording:stop": Call<ConversationIdPayload, Empty>;
  "activity:ping": OptionalCall<Empty, Empty>;
  "presence:get": Call<ConversationIdPayload, PresenceSnapshot>;
  "room:join": Call<ConversationIdPayload, ConversationIdPayload>;
  "room:leave": Call<ConversationIdPayload, ConversationIdPayload>;
}

export interface ServerToClientEvents {
  connected: (info: Connected) => void;
  error: (error: SocketError) => void;
  "message:new": (message: Message) => void;
  "message:updated": (update: MessageUpdated) => void;
  "message:deleted": (deleted: MessageDeleted) => void;
  "thread:updated": (thread: ThreadUpdated) => void;
  "message:pinned": (pinned: MessagePinned) => void;
  "message:unpinned": (unpinned: MessageUnpinned) => void;
  "reaction:added": (change: ReactionChange) => void;
  "reaction:removed": (change: ReactionChange) => void;
  "message:read": (read: MessageRead) => void;
  "conversation:read": (read: ConversationRead) => void;
  /** To the caller's own sockets only. */
  "conversation:unread": (unread: ConversationUnread) => void;
  "user:typing": (indicator: Indicator) => void;
  "user:recording": (indicator: Indicator) => void;
  "user:online": (online: UserOnline) => void;
  "user:offline": (offline: UserOffline) => void;
  "conversation:new": (conversation: Conversation) => void;
  "conversation:joined": (conversation: Conversation) => void;
  "conversation:removed": (removed: ConversationRemoved) => void;
  "conversation:updated": (updated: ConversationUpdated) => void;
  "participant:added": (change: ParticipantChange) => void;
  "participant:removed": (change: ParticipantChange) => void;
  /** Not in ARCHITECTURE.md's list: an extension of this service (README). */
  "participant:updated": (change: ParticipantUpdated) => void;
}

export type ClientEvent = keyof ClientToServerEvents;
export type ServerEvent = keyof ServerToClientEvents;
/** What a client sends with an event. */
export type PayloadOf<E extends ClientEvent> = Parameters<ClientToServerEvents[E]>[0];
/** The `data` of a successful ack of an event. */
export type AckDataOf<E extends ClientEvent> =
  NonNullable<Parameters<ClientToServerEvents[E]>[1]> extends (res: Ack<infer D>) => void ? D : never;
