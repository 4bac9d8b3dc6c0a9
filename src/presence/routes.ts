import { Elysia } from "elysia";
import type { Context } from "../core/context";
import { authenticated } from "../core/http";
import { ConversationPresenceParams, Presence, PresenceBatch, PresenceList, UserPresenceParams } from "./model";
import { batchPresence, conversationPresence, userPresence } from "./service";

export const presenceRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api", tags: ["presence"] })
    .use(authenticated(ctx))
    .get("/users/:userId/presence", ({ actor, params }) => userPresence(ctx, actor, params.userId), {
      params: UserPresenceParams,
      response: Presence,
      detail: { summary: "A user's presence" },
    })
    .get("/conversations/:id/presence", ({ actor, params }) => conversationPresence(ctx, actor, params.id), {
      params: ConversationPresenceParams,
      response: PresenceList,
      detail: { summary: "Presence of a conversation's participants" },
    })
    .post("/presence/batch", ({ actor, body }) => batchPresence(ctx, actor, body.userIds), {
      body: PresenceBatch,
      response: PresenceList,
      detail: { summary: "Presence of up to 500 users" },
    });
