/** The closed set of error codes of the contract, with the HTTP status each one answers. */
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  USER_NOT_FOUND: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export type ErrorBody = { code: ErrorCode; message: string; details?: unknown };

/** The one error type of the service: thrown anywhere, turned into the contract's format at the edge. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    /** Seconds, for RATE_LIMITED (sent as `Retry-After`). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "AppError";
    this.status = ERROR_STATUS[code];
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export const notFound = (what: string) => new AppError("NOT_FOUND", `${what} not found`);
export const forbidden = (message: string) => new AppError("FORBIDDEN", message);
export const conflict = (message: string, details?: unknown) => new AppError("CONFLICT", message, details);
export const invalid = (message: string, details?: unknown) => new AppError("VALIDATION_ERROR", message, details);

const INTERNAL_BODY: ErrorBody = { code: "INTERNAL", message: "Internal error" };

/**
 * Turns anything thrown into the contract's error body. Unknown errors become INTERNAL with no
 * details, so that no stack trace or SQL text ever reaches a client; the caller logs the original.
 */
export function toErrorBody(error: unknown): { status: number; body: ErrorBody; expected: boolean } {
  if (error instanceof AppError) return { status: error.status, body: error.toBody(), expected: true };
  return { status: 500, body: INTERNAL_BODY, expected: false };
}

export type FieldError = { path: string; message: string; index?: number };

/** VALIDATION_ERROR naming each failing field, the same for REST bodies and socket payloads. */
export function validationFailure(where: string, fields: FieldError[]): AppError {
  const details = fields.map((f) => {
    const index = /^\/\w+\/(\d+)(?:\/|$)/.exec(f.path)?.[1];
    return index === undefined || f.index !== undefined ? f : { ...f, index: Number(index) };
  });
  const first = details[0];
  const message = first ? `Invalid ${where}: ${first.message}${first.path === "/" ? "" : ` (${first.path})`}` : `Invalid ${where}`;
  return new AppError("VALIDATION_ERROR", message, details);
}
