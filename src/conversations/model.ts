import { type Static, t } from "elysia";
import { ExternalId, Limit, ListOf, Metadata, Uuid } from "../core/schemas";
import { Message } from "../messages/model";

export const Role = t.Union([t.Literal("owner"), t.Literal("admin"), t.Literal("member")]);
export type Role = Static<typeof Role>;

export const Participant = t.Object({
  userId: t.String(),
  role: Role,
  joinedAt: t.String({ format: "date-time" }),
  lastReadSeq: t.Integer(),
});
export type Participant = Static<typeof Participant>;

export const Conversation = t.Object({
  id: t.String({ format: "uuid" }),
  type: t.Union([t.Literal("direct"), t.Literal("group")]),
  name: t.Union([t.String(), t.Null()]),
  metadata: t.Record(t.String(), t.Unknown()),
  createdBy: t.String(),
  createdAt: t.String({ format: "date-time" }),
  updatedAt: t.String({ format: "date-time" }),
  lastMessage: t.Union([Message, t.Null()]),
  lastMessageAt: t.Union([t.String({ format: "date-time" }), t.Null()]),
  participants: t.Array(Participant),
  unreadCount: t.Integer(),
  unreadMentionCount: t.Integer(),
  slowModeSeconds: t.Integer(),
  /** The caller's mute: an expired one reads as not muted. */
  muted: t.Boolean(),
  /** When the caller's mute ends; null when not muted or muted until unmuted. */
  mutedUntil: t.Union([t.String({ format: "date-time" }), t.Null()]),
});
export type Conversation = Static<typeof Conversation>;
export const ConversationList = ListOf(Conversation);

export const CreateConversation = t.Object({
  type: t.Union([t.Literal("direct"), t.Literal("group")]),
  participantIds: t.Array(ExternalId, { minItems: 1, maxItems: 1000 }),
  name: t.Optional(t.Union([t.String({ minLength: 1, maxLength: 200 }), t.Null()])),
  metadata: t.Optional(Metadata),
});
export type CreateConversation = Static<typeof CreateConversation>;

const SlowModeSeconds = t.Integer({ minimum: 0, maximum: 3600, description: "A member sends at most one message per this many seconds; 0 turns slow mode off" });

export const UpdateConversation = t.Object({
  name: t.Optional(t.Union([t.String({ minLength: 1, maxLength: 200 }), t.Null()])),
  metadata: t.Optional(Metadata),
  slowModeSeconds: t.Optional(SlowModeSeconds),
});
export type UpdateConversation = Static<typeof UpdateConversation>;

/** The `conversation:updated` room event and the `conversation.updated` webhook. */
export const ConversationUpdated = t.Object({
  conversationId: t.String({ format: "uuid" }),
  name: t.Union([t.String(), t.Null()]),
  metadata: t.Record(t.String(), t.Unknown()),
  slowModeSeconds: t.Integer(),
  updatedBy: t.String(),
  updatedAt: t.String({ format: "date-time" }),
});
export type ConversationUpdated = Static<typeof ConversationUpdated>;

export const ConversationPage = t.Object({ limit: Limit(20, 100), cursor: t.Optional(t.String({ maxLength: 512 })) });

export const AddParticipants = t.Object({
  userIds: t.Array(ExternalId, { minItems: 1, maxItems: 1000 }),
  role: t.Optional(Role),
});
export const UpdateParticipant = t.Object({ role: Role });

export const ConversationParams = t.Object({ id: Uuid });

export const MuteConversation = t.Object({
  until: t.Optional(t.String({ format: "date-time", maxLength: 64, description: "When the mute ends by itself (ISO-8601, in the future); absent: until unmuted" })),
});
export type MuteConversation = Static<typeof MuteConversation>;
export const ConversationMute = t.Object({
  conversationId: t.String({ format: "uuid" }),
  muted: t.Literal(true),
  mutedUntil: t.Union([t.String({ format: "date-time" }), t.Null()]),
});
export type ConversationMute = Static<typeof ConversationMute>;
export const ParticipantParams = t.Object({ id: Uuid, userId: ExternalId });

export type { ConversationRemoved, ParticipantChange, ParticipantUpdated } from "../client/wire";

export const RoomPayload = t.Object({ conversationId: Uuid });
