import { Elysia, t } from "elysia";
import type { Context } from "../core/context";
import { internalOnly } from "../core/http";
import { EventPage, EventParams, PurgeRequest, WebhookEvent, WebhookEventList } from "./model";
import { getEvent, listEvents, purgeEvents, redeliverDead, redeliverEvent } from "./service";

/** Operator tools for the webhook outbox, on the internal API (X-Internal-Secret). */
export const webhookRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api/webhooks/events", tags: ["internal"] })
    .use(internalOnly(ctx))
    .get("/", ({ query }) => listEvents(ctx, query), {
      query: EventPage,
      response: WebhookEventList,
      detail: { summary: "Outbox events, newest first, optionally by status (pending, delivered, dead)" },
    })
    .post("/redeliver-dead", () => redeliverDead(ctx), {
      response: t.Object({ redelivered: t.Integer() }),
      detail: { summary: "Send every dead event again, with a fresh retry schedule" },
    })
    .post("/purge", ({ body }) => purgeEvents(ctx, body?.olderThanHours), {
      body: t.Optional(PurgeRequest),
      response: t.Object({ purged: t.Integer() }),
      detail: { summary: "Delete delivered events older than olderThanHours (default WEBHOOK_RETENTION_HOURS)" },
    })
    .get("/:id", ({ params }) => getEvent(ctx, params.id), {
      params: EventParams,
      response: WebhookEvent,
      detail: { summary: "One outbox event" },
    })
    .post("/:id/redeliver", ({ params }) => redeliverEvent(ctx, params.id), {
      params: EventParams,
      response: WebhookEvent,
      detail: { summary: "Send an event again (any status), with a fresh retry schedule" },
    });
