/**
 * Compile-time proof that the TypeBox models (what the service validates and returns) and the wire
 * types (what the client SDK and the event maps are written against) describe the same shapes:
 * each pair must be assignable both ways, so a field added, removed or retyped on one side only
 * fails `tsc`. Nothing here runs.
 */
import type { Static } from "@sinclair/typebox";
import type * as Wire from "../../client/wire";
import type { Conversation, ConversationMute, ConversationUpdated, Participant, RoomPayload } from "../../conversations/model";
import type {
  Attachment,
  Message,
  MessageDeleted,
  MessageList,
  MessageListPage,
  SyncedMessages,
  MessagePinned,
  MessageUnpinned,
  ReactionSummary,
  SocketDeleteMessage,
  SocketEditMessage,
  SocketListPins,
  SocketPinMessage,
  SocketSendMessage,
  SocketSyncMessages,
  SocketThreadReplies,
  ThreadUpdated,
} from "../../messages/model";
import type { IndicatorPayload, Presence, PresencePayload } from "../../presence/model";
import type { Ban, Block } from "../../moderation/model";
import type { MessageFlag, SocketFlagMessage } from "../../flags/model";
import type { ReactionChange, SocketReaction } from "../../reactions/model";
import type { ConversationRead, ConversationUnread, MessageRead, SocketConversationRead, SocketConversationUnread, SocketMessageRead, UnreadTotals } from "../../receipts/model";

/** Compiles only when A and B are assignable to each other. */
type Same<A extends B, B extends C, C = A> = [A, B, C];

export type WireConformance = [
  Same<Message, Wire.Message>,
  Same<Static<typeof Attachment>, Wire.Attachment>,
  Same<ReactionSummary, Wire.ReactionSummary>,
  Same<MessageDeleted, Wire.MessageDeleted>,
  Same<ThreadUpdated, Wire.ThreadUpdated>,
  Same<MessagePinned, Wire.MessagePinned>,
  Same<MessageUnpinned, Wire.MessageUnpinned>,
  Same<MessageFlag, Wire.MessageFlag>,
  Same<Static<typeof MessageList>, Wire.MessageList>,
  Same<Static<typeof MessageListPage>, Wire.MessageListPage>,
  Same<Static<typeof SyncedMessages>, Wire.SyncedMessages>,
  Same<Conversation, Wire.Conversation>,
  Same<ConversationUpdated, Wire.ConversationUpdated>,
  Same<Participant, Wire.Participant>,
  Same<Presence, Wire.Presence>,
  Same<Block, Wire.Block>,
  Same<Ban, Wire.Ban>,
  Same<ConversationMute, Wire.ConversationMute>,
  Same<ReactionChange, Wire.ReactionChange>,
  Same<MessageRead, Wire.MessageRead>,
  Same<ConversationRead, Wire.ConversationRead>,
  Same<ConversationUnread, Wire.ConversationUnread>,
  Same<UnreadTotals, Wire.UnreadTotals>,
  // Socket payloads: what the SDK sends is what the service validates.
  Same<Static<typeof SocketSendMessage>, Wire.SendMessagePayload>,
  Same<Static<typeof SocketEditMessage>, Wire.EditMessagePayload>,
  Same<Static<typeof SocketDeleteMessage>, Wire.MessageIdPayload>,
  Same<Static<typeof SocketSyncMessages>, Wire.SyncMessagesPayload>,
  Same<Static<typeof SocketThreadReplies>, Wire.ThreadRepliesPayload>,
  Same<Static<typeof SocketPinMessage>, Wire.MessageIdPayload>,
  Same<Static<typeof SocketListPins>, Wire.ListPinsPayload>,
  Same<Static<typeof SocketFlagMessage>, Wire.FlagMessagePayload>,
  Same<Static<typeof SocketReaction>, Wire.ReactionPayload>,
  Same<Static<typeof SocketMessageRead>, Wire.MessageIdPayload>,
  Same<Static<typeof SocketConversationRead>, Wire.ConversationReadPayload>,
  Same<Static<typeof SocketConversationUnread>, Wire.ConversationUnreadPayload>,
  Same<Static<typeof IndicatorPayload>, Wire.ConversationIdPayload>,
  Same<Static<typeof PresencePayload>, Wire.ConversationIdPayload>,
  Same<Static<typeof RoomPayload>, Wire.ConversationIdPayload>,
];
