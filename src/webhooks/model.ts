import { type Static, t } from "elysia";
import { Limit, ListOf } from "../core/schemas";
import { EVENT_ID_PATTERN, WEBHOOK_EVENT_TYPES } from "./outbox";

export const EventStatus = t.Union([t.Literal("pending"), t.Literal("delivered"), t.Literal("dead")]);
export type EventStatus = Static<typeof EventStatus>;

const DateTime = t.String({ format: "date-time" });
const Nullable = <T extends Parameters<typeof t.Union>[0][number]>(schema: T) => t.Union([schema, t.Null()]);

/** An outbox row as operators see it. */
export const WebhookEvent = t.Object({
  id: t.String({ pattern: EVENT_ID_PATTERN }),
  type: t.UnionEnum(WEBHOOK_EVENT_TYPES),
  status: EventStatus,
  attempts: t.Integer(),
  /** When the next attempt is due; null unless pending. */
  nextAttemptAt: Nullable(DateTime),
  lastError: Nullable(t.String()),
  lastStatus: Nullable(t.Integer()),
  deliveredAt: Nullable(DateTime),
  createdAt: DateTime,
  updatedAt: DateTime,
  /** The body POSTed to WEBHOOK_URL. */
  payload: t.Object({ id: t.String(), type: t.String(), timestamp: t.String(), data: t.Unknown() }),
});
export type WebhookEvent = Static<typeof WebhookEvent>;
export const WebhookEventList = ListOf(WebhookEvent);

export const EventPage = t.Object({
  status: t.Optional(EventStatus),
  limit: Limit(50, 100),
  cursor: t.Optional(t.String({ pattern: EVENT_ID_PATTERN, description: "nextCursor of the previous page" })),
});
export type EventPage = Static<typeof EventPage>;

export const EventParams = t.Object({ id: t.String({ pattern: EVENT_ID_PATTERN }) });

export const PurgeRequest = t.Object({
  olderThanHours: t.Optional(t.Number({ minimum: 0, maximum: 1_000_000, description: "default: WEBHOOK_RETENTION_HOURS" })),
});
