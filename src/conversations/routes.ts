import { Elysia, t } from "elysia";
import type { Context } from "../core/context";
import { authenticated } from "../core/http";
import { muteConversation, unmuteConversation } from "./mutes";
import { AddParticipants, Conversation, ConversationMute, MuteConversation, ConversationList, ConversationPage, ConversationParams, CreateConversation, Participant, ParticipantParams, UpdateConversation, UpdateParticipant } from "./model";
import { addParticipants, removeParticipant } from "./participants";
import { updateParticipantRole } from "./roles";
import { createConversation, deleteConversation, getConversation, listConversations } from "./service";
import { updateConversation } from "./settings";

export const conversationRoutes = (ctx: Context) =>
  new Elysia({ prefix: "/api/conversations", tags: ["conversations"] })
    .use(authenticated(ctx))
    .post(
      "/",
      async ({ actor, body, set }) => {
        const { conversation, created } = await createConversation(ctx, actor, body);
        set.status = created ? 201 : 200;
        return conversation;
      },
      { body: CreateConversation, response: { 200: Conversation, 201: Conversation }, detail: { summary: "Create a conversation (a direct one is returned if it exists)" } },
    )
    .get("/", ({ actor, query }) => listConversations(ctx, actor, query), {
      query: ConversationPage,
      response: ConversationList,
      detail: { summary: "The caller's conversations, most recent activity first" },
    })
    .get("/:id", ({ actor, params }) => getConversation(ctx, actor, params.id), {
      params: ConversationParams,
      response: Conversation,
      detail: { summary: "Get a conversation" },
    })
    .patch("/:id", ({ actor, params, body }) => updateConversation(ctx, actor, params.id, body), {
      params: ConversationParams,
      body: UpdateConversation,
      response: Conversation,
      detail: { summary: "Change a conversation's name, metadata or slow mode (a direct one: metadata only)" },
    })
    .delete(
      "/:id",
      async ({ actor, params, set }) => {
        await deleteConversation(ctx, actor, params.id);
        set.status = 204;
      },
      { params: ConversationParams, detail: { summary: "Delete a conversation and its messages" } },
    )
    .put("/:id/mute", ({ actor, params, body }) => muteConversation(ctx, actor, params.id, body?.until), {
      params: ConversationParams,
      body: t.Optional(MuteConversation),
      response: ConversationMute,
      detail: {
        summary: "Mute a conversation for the caller",
        description: "Until `until` (ISO-8601, in the future), or until unmuted. Muting again replaces the time. A muted conversation produces no notifications for the caller; everything else is unchanged.",
      },
    })
    .delete(
      "/:id/mute",
      async ({ actor, params, set }) => {
        await unmuteConversation(ctx, actor, params.id);
        set.status = 204;
      },
      { params: ConversationParams, detail: { summary: "Unmute a conversation for the caller (also when not muted)" } },
    )
    .post("/:id/participants", ({ actor, params, body }) => addParticipants(ctx, actor, params.id, body), {
      params: ConversationParams,
      body: AddParticipants,
      response: Conversation,
      detail: { summary: "Add participants to a group" },
    })
    .patch("/:id/participants/:userId", ({ actor, params, body }) => updateParticipantRole(ctx, actor, params.id, params.userId, body.role), {
      params: ParticipantParams,
      body: UpdateParticipant,
      response: Participant,
      detail: { summary: "Change a participant's role" },
    })
    .delete(
      "/:id/participants/:userId",
      async ({ actor, params, set }) => {
        await removeParticipant(ctx, actor, params.id, params.userId);
        set.status = 204;
      },
      { params: ParticipantParams, detail: { summary: "Remove a participant, or leave" } },
    );
