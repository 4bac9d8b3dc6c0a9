import { Elysia } from "elysia";
import type { Context } from "../core/context";
import { authenticated } from "../core/http";
import { ConversationMessagePage, ConversationMessagesParams, EditMessage, Message, MessageList, MessageListPage, MessagePage, MessageParams, SearchMessages, SendMessage } from "./model";
import { searchMessages } from "./search";
import { deleteMessage, editMessage, getMessage, listMessages, listReplies, sendMessage } from "./service";

export const messageRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api", tags: ["messages"] })
    .use(authenticated(ctx))
    .post(
      "/conversations/:id/messages",
      async ({ actor, params, body, set }) => {
        const { message, created } = await sendMessage(ctx, actor, params.id, body);
        set.status = created ? 201 : 200;
        return message;
      },
      {
        params: ConversationMessagesParams,
        body: SendMessage,
        response: { 200: Message, 201: Message },
        detail: { summary: "Send a message, or a reply with parentId (a repeated clientMessageId returns the stored one)" },
      },
    )
    .get("/conversations/:id/messages", ({ actor, params, query }) => listMessages(ctx, actor, params.id, query), {
      params: ConversationMessagesParams,
      query: ConversationMessagePage,
      response: MessageListPage,
      detail: {
        summary: "A page of messages in ascending seq: top-level ones, or all with includeReplies=true",
        description: "A `before`/`after` cursor older than what retention kept (MESSAGE_RETENTION_DAYS) answers `truncated: true`: `after` from the oldest kept message, `before` an empty page.",
      },
    })
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
      detail: { summary: "Edit a message (sender only)" },
    })
    .delete(
      "/messages/:id",
      async ({ actor, params, set }) => {
        await deleteMessage(ctx, actor, params.id);
        set.status = 204;
      },
      { params: MessageParams, detail: { summary: "Delete a message (sender, owner or admin)" } },
    );
