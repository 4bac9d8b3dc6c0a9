import { Elysia } from "elysia";
import type { Context } from "../core/context";
import { authenticated } from "../core/http";
import { ConversationPresencePage, ConversationPresenceParams, Presence, PresenceBatch, PresenceList, UserPresenceParams } from "./model";
import { batchPresence, conversationPresence, userPresence } from "./service";

export const presenceRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api", tags: ["presence"] })
    .use(authenticated(ctx))
    .get("/users/:userId/presence", ({ actor, params }) => userPresence(ctx, actor, params.userId), {
      params: UserPresenceParams,
      response: Presence,
      detail: { summary: "A user's presence" },
    })
    .get("/conversations/:id/presence", ({ actor, params, query }) => conversationPresence(ctx, actor, params.id, { limit: query.limit ?? 1000, cursor: query.cursor }), {
      params: ConversationPresenceParams,
      query: ConversationPresencePage,
      response: PresenceList,
      detail: { summary: "Presence of a conversation's participants, in user id order, up to 1,000 at a time (limit, cursor)" },
    })
    .post("/presence/batch", ({ actor, body }) => batchPresence(ctx, actor, body.userIds), {
      body: PresenceBatch,
      response: PresenceList,
      detail: { summary: "Presence of up to 500 users" },
    });
