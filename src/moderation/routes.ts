import { Elysia } from "elysia";
import type { Context } from "../core/context";
import { authenticated } from "../core/http";
import { ConversationParams } from "../conversations/model";
import { banUser, listBans, unbanUser } from "./bans";
import { blockUser, listBlocks, unblockUser } from "./blocks";
import { Ban, BanList, BanParams, BlockList, BlockParams, CreateBan, UserIdPage } from "./model";

/** The caller's own blocks. */
export const blockRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api/me/blocks", tags: ["moderation"] })
    .use(authenticated(ctx))
    .get("/", ({ actor, query }) => listBlocks(ctx, actor, query), {
      query: UserIdPage,
      response: BlockList,
      detail: { summary: "The users the caller blocks, in user id order" },
    })
    .put(
      "/:userId",
      async ({ actor, params, set }) => {
        await blockUser(ctx, actor, params.userId);
        set.status = 204;
      },
      {
        params: BlockParams,
        detail: {
          summary: "Block a user (again: no change)",
          description:
            "The blocked user can no longer open a direct conversation with the caller, send, edit, react, type or record in their direct conversation, or add the caller to a group (403); the caller reads as offline to them. Groups they share are otherwise unaffected.",
        },
      },
    )
    .delete(
      "/:userId",
      async ({ actor, params, set }) => {
        await unblockUser(ctx, actor, params.userId);
        set.status = 204;
      },
      { params: BlockParams, detail: { summary: "Unblock a user (also when not blocked)" } },
    );

/** Bans of a group, managed by its owners and admins. */
export const banRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api/conversations", tags: ["moderation"] })
    .use(authenticated(ctx))
    .post(
      "/:id/bans",
      async ({ actor, params, body, set }) => {
        const ban = await banUser(ctx, actor, params.id, body);
        set.status = 201;
        return ban;
      },
      {
        params: ConversationParams,
        body: CreateBan,
        response: { 201: Ban },
        detail: {
          summary: "Ban a user from a group (owner/admin)",
          description:
            "A participant is removed as by DELETE …/participants/:userId (the participant.removed webhook carries `banned: true`); until `until`, or until the ban is lifted, nobody can add them back (403). Banning again replaces the ban. An owner cannot be banned (403); a direct conversation has no bans (409).",
        },
      },
    )
    .get("/:id/bans", ({ actor, params, query }) => listBans(ctx, actor, params.id, query), {
      params: ConversationParams,
      query: UserIdPage,
      response: BanList,
      detail: { summary: "The bans in force in a group, in user id order (owner/admin)" },
    })
    .delete(
      "/:id/bans/:userId",
      async ({ actor, params, set }) => {
        await unbanUser(ctx, actor, params.id, params.userId);
        set.status = 204;
      },
      { params: BanParams, detail: { summary: "Lift a ban (also when there is none; owner/admin)" } },
    );
