import { Elysia, t } from "elysia";
import type { Context } from "../core/context";
import { authenticated, internalOnly } from "../core/http";
import { FlagList, FlagMessage, FlagPage, FlagParams, MessageFlag } from "./model";
import { flagMessage, listFlags } from "./service";

/** Participants report messages. */
export const flagRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api/messages", tags: ["moderation"] })
    .use(authenticated(ctx))
    .post(
      "/:id/flag",
      async ({ actor, params, body, set }) => {
        const { flag, created } = await flagMessage(ctx, actor, params.id, body ?? {});
        set.status = created ? 201 : 200;
        return flag;
      },
      {
        params: FlagParams,
        body: t.Optional(FlagMessage),
        response: { 200: MessageFlag, 201: MessageFlag },
        detail: {
          summary: "Report a message for review (participants; once per user: again answers the stored flag with 200)",
          description: "The host hears of it through the `message.flagged` webhook and reads the queue with `GET /api/flags`. A deleted message cannot be flagged (409).",
        },
      },
    );

/** The review queue, for the host's moderators. */
export const flagQueueRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api/flags", tags: ["internal"] })
    .use(internalOnly(ctx))
    .get("/", ({ query }) => listFlags(ctx, query), {
      query: FlagPage,
      response: FlagList,
      detail: { summary: "Flagged messages to review, newest flag first" },
    });
