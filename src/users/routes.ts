import { Elysia, t } from "elysia";
import type { Context } from "../core/context";
import { internalOnly } from "../core/http";
import { RevokeTokens, SuspendUser, TokenRevocation, User, UserParams, UserSync, UserSyncBatch } from "./model";
import { deleteUser, getUser, revokeTokens, suspendUser, syncUser, syncUsers, unsuspendUser } from "./service";

/** The internal API: called by the host application with X-Internal-Secret, never by browsers. */
export const userRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api/users", tags: ["internal"] })
    .use(internalOnly(ctx))
    .post(
      "/sync",
      async ({ body, set }) => {
        const { user, created } = await syncUser(ctx, body);
        set.status = created ? 201 : 200;
        return user;
      },
      {
        body: UserSync,
        response: { 200: User, 201: User },
        detail: {
          summary: "Create or update a user",
          description: "A `version` not above the stored one changes nothing: 200 with the stored user, or 404 when it is deleted.",
        },
      },
    )
    .post(
      "/sync/batch",
      ({ body }) => syncUsers(ctx, body.users),
      {
        body: UserSyncBatch,
        response: t.Object({ data: t.Array(User), created: t.Integer(), updated: t.Integer(), stale: t.Integer() }),
        detail: {
          summary: "Create or update up to 1000 users, all or nothing",
          description: "Entries whose `version` is not above the stored one change nothing and count as `stale`; `data` lists the stored users in the order given, leaving out those that stay deleted.",
        },
      },
    )
    .get("/:userId", ({ params }) => getUser(ctx, params.userId), {
      params: UserParams,
      response: User,
      detail: { summary: "Get a user" },
    })
    .post("/:userId/revoke-tokens", ({ params, body }) => revokeTokens(ctx, params.userId, body.before), {
      params: UserParams,
      body: RevokeTokens,
      response: TokenRevocation,
      detail: {
        summary: "Refuse the user's tokens issued at or before `before` (Unix seconds, default now)",
        description:
          "Tokens without `iat` are refused too. REST answers them 401 UNAUTHORIZED at once; sockets holding them get `error` UNAUTHORIZED and are disconnected, on every instance. The mark only moves forward: the answer gives the one in force.",
      },
    })
    .post("/:userId/suspend", ({ params, body }) => suspendUser(ctx, params.userId, body ?? {}), {
      params: UserParams,
      body: t.Optional(SuspendUser),
      response: User,
      detail: {
        summary: "Suspend a user until `until` (ISO-8601), or until lifted",
        description:
          "From then on every REST call of theirs is 403 FORBIDDEN and every connect is refused with `connect_error` data.code FORBIDDEN; live sockets get `error` FORBIDDEN and are disconnected, on every instance. Memberships and messages stay. Suspending again replaces the end and the reason.",
      },
    })
    .post("/:userId/unsuspend", ({ params }) => unsuspendUser(ctx, params.userId), {
      params: UserParams,
      response: User,
      detail: { summary: "Lift a user's suspension (also when not suspended)" },
    })
    .delete(
      "/:userId",
      async ({ params, set }) => {
        await deleteUser(ctx, params.userId);
        set.status = 204;
      },
      { params: UserParams, detail: { summary: "Delete a user: sockets closed, conversations left, messages kept" } },
    );
