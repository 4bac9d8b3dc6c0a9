import { type Static, t } from "elysia";
import { Limit, ListOf, Uuid } from "../core/schemas";

/** `reason`: free text for the host's reviewers, at most 500 characters. */
export const FlagMessage = t.Object({ reason: t.Optional(t.String({ maxLength: 500, description: "Why the message is reported, at most 500 characters" })) });
export type FlagMessage = Static<typeof FlagMessage>;

export const MessageFlag = t.Object({
  messageId: t.String({ format: "uuid" }),
  conversationId: t.String({ format: "uuid" }),
  userId: t.String(),
  reason: t.Union([t.String(), t.Null()]),
  createdAt: t.String({ format: "date-time" }),
});
export type MessageFlag = Static<typeof MessageFlag>;
export const FlagList = ListOf(MessageFlag);

/** The review queue, newest first; `nextCursor` goes back as `cursor`. */
export const FlagPage = t.Object({ limit: Limit(50, 100), cursor: t.Optional(t.String({ maxLength: 1024 })) });
export type FlagPage = Static<typeof FlagPage>;

export const FlagParams = t.Object({ id: Uuid });
export const SocketFlagMessage = t.Composite([t.Object({ messageId: Uuid }), FlagMessage]);
