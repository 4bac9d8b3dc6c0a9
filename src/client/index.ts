/**
 * The browser (and Bun/Node) client of the chat service: `import { createChatClient } from
 * "chat-service/client"`. It depends on socket.io-client only, never on server code.
 */
export { ACK_TIMEOUT_MS, type ChatClient, type ChatClientOptions, type ChatSocket, type ConnectionStatus, createChatClient } from "./client";
export { ConversationState, type Draft, type PendingMessage, type PinsPage, type RepliesPage, TYPING_IDLE_MS, TYPING_RESEND_MS } from "./conversation";
export { ChatError, type ChatErrorCode } from "./errors";
export type * from "./wire";
