import type { Context } from "../core/context";
import type { Executor } from "../core/db/client";
import { webhookEvents } from "../core/db/schema";

export const WEBHOOK_EVENT_TYPES = [
  "message.created",
  "message.updated",
  "message.deleted",
  "conversation.created",
  "conversation.deleted",
  "participant.added",
  "participant.removed",
  "reaction.added",
  "reaction.removed",
  "user.online",
  "user.offline",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const newEventId = () => `evt_${Bun.randomUUIDv7().replaceAll("-", "")}`;

/**
 * Writes webhook events to the outbox with the executor of the change they report, so that the
 * event commits (or rolls back) with it. Without WEBHOOK_URL nothing is recorded.
 */
export async function recordEvents(ctx: Context, tx: Executor, events: { type: WebhookEventType; data: unknown }[]): Promise<void> {
  if (!ctx.config.WEBHOOK_URL || events.length === 0) return;
  const timestamp = new Date().toISOString();
  await tx.insert(webhookEvents).values(
    events.map(({ type, data }) => {
      const id = newEventId();
      return { id, type, payload: { id, type, timestamp, data } };
    }),
  );
}

export const recordEvent = (ctx: Context, tx: Executor, type: WebhookEventType, data: unknown) => recordEvents(ctx, tx, [{ type, data }]);
