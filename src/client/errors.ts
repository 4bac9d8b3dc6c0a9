import type { ErrorCode } from "./wire";

/**
 * The contract's codes, plus two of the client's own: `TIMEOUT` (no answer in time) and
 * `DISCONNECTED` (the connection dropped before the answer came).
 */
export type ChatErrorCode = ErrorCode | "TIMEOUT" | "DISCONNECTED";

/** Every failure the client reports: an error answer of the service, or one of the client's own. */
export class ChatError extends Error {
  constructor(
    readonly code: ChatErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ChatError";
  }
}

/** Failures a retry can cure: a send carrying a clientMessageId is retried on these. */
export const RETRYABLE = new Set<ChatErrorCode>(["TIMEOUT", "DISCONNECTED", "UNAVAILABLE", "INTERNAL", "RATE_LIMITED"]);
/** Handshake refusals that a fresh token cures. */
export const TOKEN_REFUSALS = new Set<ChatErrorCode>(["TOKEN_EXPIRED", "UNAUTHORIZED"]);
/** Refusals no retry cures: the client stops reconnecting and reports them. */
export const FINAL_REFUSALS = new Set<ChatErrorCode>(["FORBIDDEN", "USER_NOT_FOUND"]);
