import { Elysia } from "elysia";
import type { Context } from "../core/context";
import { claimedActor } from "../core/auth";
import { authenticated, jsonResponse, jsonTextResponse, verifiedToken } from "../core/http";
import {
  ConversationMessagePage,
  ConversationMessagesParams,
  EditMessage,
  Message,
  MessageList,
  MessageListPage,
  MessagePage,
  MessageParams,
  MessagePinned,
  PinPage,
  SearchMessages,
  SendMessage,
} from "./model";
import { listPins, pinMessage, unpinMessage } from "./pins";
import { searchMessages } from "./search";
import { deleteMessage, editMessage, getMessage, listMessages, listReplies, sendMessage } from "./service";

const MODERATED =
  "With MODERATION_HOOK_URL set, the host's pre-send hook judges the message before it is stored: 403 FORBIDDEN with details.reason when it rejects (nothing stored), the hook's content and metadata when it modifies, 503 UNAVAILABLE when it fails and MODERATION_HOOK_FAILURE is closed.";

/**
 * A conversation's page and a send: the hottest read and write. Their statements read the
 * caller's user too (the page's one statement, the send statement), so the token is only verified
 * before them (verifiedToken), not looked up as `authenticated` does.
 */
export const pageAndSendRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api", tags: ["messages"] })
    .use(verifiedToken(ctx))
    .get("/conversations/:id/messages", async ({ claims, params, query }) => jsonTextResponse(await listMessages(ctx, claims, params.id, query)), {
      params: ConversationMessagesParams,
      query: ConversationMessagePage,
      response: MessageListPage,
      detail: {
        summary: "A page of messages in ascending seq: top-level ones, or all with includeReplies=true",
        description: "A `before`/`after` cursor older than what retention kept (MESSAGE_RETENTION_DAYS) answers `truncated: true`: `after` from the oldest kept message, `before` an empty page.",
      },
    })
    .post(
      "/conversations/:id/messages",
      async ({ claims, params, body, set }) => {
        const { message, created } = await sendMessage(ctx, claimedActor(claims), params.id, body);
        set.status = created ? 201 : 200;
        return jsonResponse(message, set.status);
      },
      {
        params: ConversationMessagesParams,
        body: SendMessage,
        response: { 200: Message, 201: Message },
        detail: {
          summary: "Send a message, or a reply with parentId (a repeated clientMessageId returns the stored one)",
          description: MODERATED,
        },
      },
    );

export const messageRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api", tags: ["messages"] })
    .use(authenticated(ctx))
    .get("/search/messages", ({ actor, query }) => searchMessages(ctx, actor, query), {
      query: SearchMessages,
      response: MessageList,
      detail: { summary: "Search the messages of the caller's conversations, newest first" },
    })
    .get("/messages/:id", ({ actor, params }) => getMessage(ctx, actor, params.id), {
      params: MessageParams,
      response: Message,
      detail: { summary: "Get a message" },
    })
    .get("/messages/:id/replies", ({ actor, params, query }) => listReplies(ctx, actor, params.id, query), {
      params: MessageParams,
      query: MessagePage,
      response: MessageList,
      detail: { summary: "A page of a thread's replies in ascending seq" },
    })
    .patch("/messages/:id", ({ actor, params, body }) => editMessage(ctx, actor, params.id, body), {
      params: MessageParams,
      body: EditMessage,
      response: Message,
      detail: { summary: "Edit a message (sender only)", description: MODERATED },
    })
    .delete(
      "/messages/:id",
      async ({ actor, params, set }) => {
        await deleteMessage(ctx, actor, params.id);
        set.status = 204;
      },
      { params: MessageParams, detail: { summary: "Delete a message (sender, owner or admin); a pinned message is unpinned with it" } },
    )
    .post("/messages/:id/pin", ({ actor, params }) => pinMessage(ctx, actor, params.id), {
      params: MessageParams,
      response: MessagePinned,
      detail: {
        summary: "Pin a message to its conversation (either side of a direct one; owner or admin of a group)",
        description: "Pinning a pinned message answers its pin unchanged. A conversation has at most 50 pinned messages (409); a deleted message cannot be pinned (409).",
      },
    })
    .delete(
      "/messages/:id/pin",
      async ({ actor, params, set }) => {
        await unpinMessage(ctx, actor, params.id);
        set.status = 204;
      },
      { params: MessageParams, detail: { summary: "Unpin a message (also when not pinned; who may pin may unpin)" } },
    )
    .get("/conversations/:id/pins", ({ actor, params, query }) => listPins(ctx, actor, params.id, query), {
      params: ConversationMessagesParams,
      query: PinPage,
      response: MessageList,
      detail: { summary: "The conversation's pinned messages, most recently pinned first" },
    });
