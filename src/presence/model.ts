import { type Static, t } from "elysia";
import { ExternalId, Limit, ListOf, Uuid } from "../core/schemas";

export const Presence = t.Object({
  userId: t.String(),
  status: t.Union([t.Literal("online"), t.Literal("offline")]),
  lastSeen: t.Union([t.String({ format: "date-time" }), t.Null()]),
});
export type Presence = Static<typeof Presence>;
export const PresenceList = ListOf(Presence);

export const PresenceBatch = t.Object({ userIds: t.Array(ExternalId, { minItems: 1, maxItems: 500 }) });
export const UserPresenceParams = t.Object({ userId: ExternalId });
export const ConversationPresenceParams = t.Object({ id: Uuid });
/** A conversation's presence, in user id order; the cursor is the last id shown. */
export const ConversationPresencePage = t.Object({ limit: Limit(1000, 1000), cursor: t.Optional(t.String({ maxLength: 512 })) });

export type { Indicator, UserOffline, UserOnline } from "../client/wire";

export const IndicatorPayload = t.Object({ conversationId: Uuid });
/** `presence:get`: the presence of a conversation's participants. */
export const PresencePayload = IndicatorPayload;
