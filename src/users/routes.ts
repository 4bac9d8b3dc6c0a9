import { Elysia, t } from "elysia";
import type { Context } from "../core/context";
import { internalOnly } from "../core/http";
import { DeleteUserQuery, RevokeTokens, UserExport, SuspendUser, TokenRevocation, User, UserParams, UserSync, UserSyncBatch } from "./model";
import { requestErase } from "./erase";
import { exportUser } from "./export";
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
    .get("/:userId/export", ({ params }) => exportUser(ctx, params.userId), {
      params: UserParams,
      detail: {
        summary: "Everything of a user, as one JSON document streamed a page at a time",
        description:
          "`{ user, conversations, messages, reactions, reads }`: the user (deleted ones too), the conversations they are in with their membership, every message they sent (deleted or erased ones as tombstones), their reactions `{ messageId, conversationId, emoji, createdAt }`, and per conversation their read watermark and kept read marks. Streamed with keyset paging: memory does not grow with the history. Not a snapshot: changes made meanwhile may or may not be in it.",
        responses: { 200: { description: "The export", content: { "application/json": { schema: UserExport as object } } } },
      },
    })
    .delete(
      "/:userId",
      async ({ params, query, set }) => {
        if (query.erase) {
          await requestErase(ctx, params.userId);
          set.status = 202;
          return;
        }
        await deleteUser(ctx, params.userId);
        set.status = 204;
      },
      {
        params: UserParams,
        query: DeleteUserQuery,
        detail: {
          summary: "Delete a user: sockets closed, conversations left, messages kept; with erase=true, their data is then erased",
          description:
            "`erase=true` answers 202: the user is deleted as without it (an already deleted user may be erased too), then in batches their messages become tombstones (content, attachments, metadata and mentions cleared), their reactions and read marks go, their id leaves other messages' `mentions`, and webhook payloads still in the outbox that hold their content are cleared; then one `user.erased` webhook `{ userId, messages }`. No `message.deleted` webhooks or room events. Durable: a restart resumes it.",
        },
      },
    );
