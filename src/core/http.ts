import { Elysia, ValidationError } from "elysia";
import type { Actor } from "./auth";
import { bearerToken } from "./auth";
import type { Context } from "./context";
import { AppError, toErrorBody, validationFailure } from "./errors";

type RequestInfo = { id: string; start: number };
const requests = new WeakMap<Request, RequestInfo>();

/** The request id of a REST call, for logs and for the X-Request-Id response header. */
export const requestIdOf = (request: Request) => requests.get(request)?.id;

/**
 * Shared HTTP behaviour, registered once on the root app before any route: request ids, the body
 * size limit, access logs, and the one mapping from anything thrown to the contract's error body.
 */
export function httpCore(ctx: Context) {
  const { config, log } = ctx;
  return new Elysia({ name: "http-core" })
    .onRequest(({ request, set }) => {
      const given = request.headers.get("x-request-id");
      const id = given && /^[\w.:-]{1,128}$/.test(given) ? given : crypto.randomUUID();
      requests.set(request, { id, start: performance.now() });
      set.headers["x-request-id"] = id;
      const length = Number(request.headers.get("content-length") ?? 0);
      if (length > config.MAX_BODY_BYTES) {
        throw new AppError("PAYLOAD_TOO_LARGE", `Request body exceeds ${config.MAX_BODY_BYTES} bytes`);
      }
    })
    .onError({ as: "global" }, ({ code, error, request, set, path }) => {
      const requestId = requestIdOf(request);
      const mapped = mapHttpError(code, error);
      set.status = mapped.status;
      if (error instanceof AppError && error.retryAfter !== undefined) set.headers["retry-after"] = String(error.retryAfter);
      if (!mapped.expected) {
        log.error("request failed", { requestId, method: request.method, path, error });
      }
      return { error: mapped.body };
    })
    .onAfterResponse({ as: "global" }, ({ request, set, route }) => {
      const info = requests.get(request);
      if (!info) return;
      ctx.metrics?.observeHttp(request.method, route || "unmatched", Number(set.status ?? 200), performance.now() - info.start);
      log.debug("request", {
        requestId: info.id,
        method: request.method,
        route,
        status: set.status,
        ms: Math.round((performance.now() - info.start) * 10) / 10,
      });
    });
}

function mapHttpError(code: string | number, error: unknown) {
  if (error instanceof AppError) return toErrorBody(error);
  if (code === "VALIDATION" && error instanceof ValidationError) return toErrorBody(validationError(error));
  if (code === "PARSE") return toErrorBody(new AppError("VALIDATION_ERROR", "Request body is not valid JSON"));
  if (code === "NOT_FOUND") return toErrorBody(new AppError("NOT_FOUND", "No such route"));
  if (code === "INVALID_COOKIE_SIGNATURE") return toErrorBody(new AppError("UNAUTHORIZED", "Invalid cookie"));
  return toErrorBody(error);
}

/** Elysia's TypeBox failure → VALIDATION_ERROR listing each failing field. */
function validationError(error: ValidationError): AppError {
  const where = error.type === "params" ? "path parameter" : error.type;
  return validationFailure(
    where,
    error.all.map((e) => ({
      path: ("path" in e && e.path) || "/",
      message: "summary" in e && e.summary ? e.summary : e.message,
    })),
  );
}

/** Public routes: a bearer JWT of a synced user. Runs before validation, so 401 comes before 400. */
export function authenticated(ctx: Context) {
  return new Elysia({ name: "authenticated" }).derive({ as: "scoped" }, async ({ headers }): Promise<{ actor: Actor }> => {
    if (headers["x-internal-secret"] && !headers.authorization) {
      throw new AppError("UNAUTHORIZED", "This endpoint takes a user token, not the internal secret");
    }
    return { actor: await ctx.auth.authenticate(bearerToken(headers.authorization)) };
  });
}

/** Internal API: the host's X-Internal-Secret, compared in constant time. A JWT never opens it. */
export function internalOnly(ctx: Context) {
  return new Elysia({ name: "internal-only" }).onTransform({ as: "scoped" }, ({ headers }) => {
    if (!ctx.auth.isInternalSecret(headers["x-internal-secret"])) {
      throw new AppError("UNAUTHORIZED", "Missing or invalid X-Internal-Secret");
    }
  });
}
