import { Elysia } from "elysia";
import type { Context } from "../core/context";
import { authenticated } from "../core/http";
import { AddReaction, ReactionChange, ReactionEmojiParams, ReactionList, ReactionParams } from "./model";
import { addReaction, listReactions, removeReaction } from "./service";

export const reactionRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api/messages/:id/reactions", tags: ["reactions"] })
    .use(authenticated(ctx))
    .post(
      "/",
      async ({ actor, params, body, set }) => {
        const { reaction, created } = await addReaction(ctx, actor, params.id, body.emoji);
        set.status = created ? 201 : 200;
        return reaction;
      },
      { params: ReactionParams, body: AddReaction, response: { 200: ReactionChange, 201: ReactionChange }, detail: { summary: "React to a message" } },
    )
    .delete("/:emoji", ({ actor, params }) => removeReaction(ctx, actor, params.id, params.emoji), {
      params: ReactionEmojiParams,
      response: ReactionChange,
      detail: { summary: "Remove the caller's reaction (emoji URL-encoded)" },
    })
    .get("/", ({ actor, params }) => listReactions(ctx, actor, params.id), {
      params: ReactionParams,
      response: ReactionList,
      detail: { summary: "Reactions of a message, by emoji" },
    });
