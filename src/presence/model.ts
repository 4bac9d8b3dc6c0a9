import { type Static, t } from "elysia";
import type { Ack } from "../core/realtime/ack";
import { ExternalId, ListOf, Uuid } from "../core/schemas";

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

export type UserOnline = { userId: string; conversationId?: string; timestamp: string };
export type UserOffline = { userId: string; conversationId?: string; lastSeen: string; timestamp: string };

export const IndicatorPayload = t.Object({ conversationId: Uuid });
export type Indicator = { conversationId: string; userId: string; type: "typing" | "recording"; isActive: boolean; timestamp: string };

type IndicatorEvent = (payload: Static<typeof IndicatorPayload>, ack?: (res: Ack<Record<string, never>>) => void) => void;
export interface PresenceClientEvents {
  "typing:start": IndicatorEvent;
  "typing:stop": IndicatorEvent;
  "recording:start": IndicatorEvent;
  "recording:stop": IndicatorEvent;
  "activity:ping": (payload?: Record<string, never>, ack?: (res: Ack<Record<string, never>>) => void) => void;
}
export interface PresenceServerEvents {
  "user:typing": (indicator: Indicator) => void;
  "user:recording": (indicator: Indicator) => void;
  "user:online": (online: UserOnline) => void;
  "user:offline": (offline: UserOffline) => void;
}
