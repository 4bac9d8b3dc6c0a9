import { Elysia } from "elysia";
import type { Context } from "../core/context";
import { authenticated } from "../core/http";
import { blockUser, listBlocks, unblockUser } from "./blocks";
import { BlockList, BlockParams, UserIdPage } from "./model";

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
