import { Elysia, ValidationError } from "elysia";
import type { Actor, Claims } from "./auth";
import { bearerToken } from "./auth";
import type { Context } from "./context";
import { AppError, invalid, toErrorBody, validationFailure } from "./errors";
import { dropPrototypeKeys, jsonSize, MAX_JSON_DEPTH } from "./json-size";

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
    .onError({ as: "global" }, async ({ code, error, request, set, path }) => {
      const requestId = requestIdOf(request);
      // A request whose user was not read yet (a body refused before it, a route that reads it in
      // its own statement and failed before that ran): the caller is judged now, so that refusals
      // come in one order on every route (a suspended user's bad body or query is 403, not 400).
      // Only failures pay for this lookup.
      const refusal = isCallerRefusal(error) ? undefined : await callerRefusal(ctx, request);
      const mapped = mapHttpError(code, refusal ?? error);
      set.status = mapped.status;
      if (error instanceof AppError && error.retryAfter !== undefined) set.headers["retry-after"] = String(error.retryAfter);
      if (!mapped.expected) {
        // What a parse hook threw, rather than Elysia's "Bad Request" wrapper around it.
        const cause = code === "PARSE" && error instanceof Error && error.cause !== undefined ? error.cause : error;
        log.error("request failed", { requestId, method: request.method, path, error: cause });
      }
      return { error: mapped.body };
    })
    .onAfterResponse({ as: "global" }, ({ request, set, route }) => {
      const info = requests.get(request);
      if (!info) return;
      ctx.metrics.observeHttp(request.method, route || "unmatched", Number(set.status ?? 200), performance.now() - info.start);
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
  // Elysia wraps whatever a parse hook throws. Our own refusals (401, 413, 400) keep their code;
  // anything else there (the token's user lookup with the database gone, say) is not the caller's
  // fault and must not read as a bad body, which a client would not retry.
  if (code === "PARSE") {
    const cause = error instanceof Error ? error.cause : undefined;
    if (cause === undefined || cause instanceof SyntaxError) return toErrorBody(invalid("Request body is not valid JSON"));
    return toErrorBody(cause);
  }
  if (code === "NOT_FOUND") return toErrorBody(new AppError("NOT_FOUND", "No such route"));
  if (code === "INVALID_COOKIE_SIGNATURE") return toErrorBody(new AppError("UNAUTHORIZED", "Invalid cookie"));
  return toErrorBody(error);
}

/** Elysia's TypeBox failure → VALIDATION_ERROR listing each failing field. */
function validationError(error: ValidationError): AppError {
  // A parameter Elysia coerces is checked alone, so its failures are at the root; the schemas of
  // such parameters carry their name as title (see Limit).
  const title = error.type === "property" ? (error.validator as { title?: unknown } | undefined)?.title : undefined;
  // "property" is a value Elysia failed to coerce (a number that is not one, or out of range): a
  // query parameter (titled, see above), or a number sent as a string in the body.
  const where = error.type === "params" ? "path parameter" : error.type === "property" ? (typeof title === "string" ? "query parameter" : "body") : error.type;
  const under = typeof title === "string" ? `/${title}` : "";
  const fields = error.all.map((e) => ({
    path: under + (("path" in e && e.path) || "") || "/",
    message: "summary" in e && e.summary ? e.summary : e.message,
  }));
  // A schema's own `error` text (for the first failure) is clearer than TypeBox's wording.
  const [first, ...rest] = fields;
  if (typeof error.customError === "string") return validationFailure(where, [{ path: first?.path ?? "/", message: error.customError }, ...rest]);
  return validationFailure(where, fields);
}

/**
 * Reads a JSON body of at most `limit` bytes, whatever its Content-Type (hosts and curl users
 * often omit it; the bearer token already forces a CORS preflight in browsers). Counting while
 * reading also bounds chunked bodies, which carry no Content-Length.
 */
async function readJsonBody(request: Request, limit: number): Promise<unknown> {
  if (!request.body) return undefined;
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new AppError("PAYLOAD_TOO_LARGE", `Request body exceeds ${limit} bytes`);
    }
    chunks.push(value);
  }
  // An empty body is an empty object: an optional body stays optional, a required one names its fields.
  if (size === 0) return {};
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks)));
  } catch {
    throw invalid("Request body is not valid JSON");
  }
  // Before validation: a failing value is stringified into the validator's error, and a deeply
  // nested one would stall the process for seconds (see json-size.ts).
  if (jsonSize(body, Number.POSITIVE_INFINITY).tooDeep) {
    throw invalid(`Request body is nested more than ${MAX_JSON_DEPTH} levels deep`, [{ path: "/", message: "too deep" }]);
  }
  // Every body is an object: a bare 42, true, null or [] would otherwise stand in for an optional
  // body left out and run the action with its defaults.
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalid("Request body must be a JSON object", [{ path: "/", message: "Expected object" }]);
  dropPrototypeKeys(body);
  return body;
}

/**
 * A JSON answer serialized here, as Elysia would (same body, same headers), for the hottest routes
 * only: Elysia answers a Response as it is, without encoding and cleaning it against the route's
 * response schema (which still documents it). That walk cost about a fifth of a page of 50
 * messages. The value must already be exactly the schema's shape; tests compare such answers with
 * the schema-checked ones.
 */
export function jsonResponse(body: unknown, status = 200): Response {
  return jsonTextResponse(JSON.stringify(body), status);
}

/** The same for an answer whose JSON text is already written (by the database, say). */
export function jsonTextResponse(text: string, status = 200): Response {
  return new Response(text, { status, headers: { "content-type": "application/json;charset=utf-8" } });
}

/**
 * Public routes: a bearer JWT of a synced user. The token's signature and claims are checked
 * before the body is read, so an anonymous caller gets 401 and never has its body read; its user
 * (deleted, suspended, tokens revoked) is read once the body is in, just before the route runs,
 * so that a request whose body was still arriving when its user was suspended is refused. A body
 * refused before that (unreadable, too large) has its caller judged first by the error hook.
 */
export function authenticated(ctx: Context) {
  return new Elysia({ name: "authenticated" })
    .onParse({ as: "scoped" }, tokenThenBody(ctx))
    .derive({ as: "scoped" }, async ({ request }): Promise<{ actor: Actor }> => {
      const claims = await claimsOf(ctx, request);
      // Read now: a later refusal of this request (its query, say) need not read the user again.
      userNotYetRead.delete(request);
      return { actor: await ctx.auth.readCaller(claims) };
    });
}

/**
 * Public routes that read the token's user in their own statement (one round trip fewer on the
 * hottest read and write): the token's signature and claims are checked here, before the body is
 * read and before validation; the route's statement then refuses the user as `authenticated`
 * would (`ctx.auth.admit`, or the send statement's caller rules). When the route fails before
 * that, the error hook judges the user first (see httpCore).
 */
export function verifiedToken(ctx: Context) {
  return new Elysia({ name: "verified-token" })
    .onParse({ as: "scoped" }, tokenThenBody(ctx))
    .derive({ as: "scoped" }, async ({ request }): Promise<{ claims: Claims }> => ({ claims: await claimsOf(ctx, request) }));
}

/** The parse hook of both: the token is verified before the body is read. */
const tokenThenBody =
  (ctx: Context) =>
  async ({ request }: { request: Request }) => {
    await claimsOf(ctx, request);
    return readJsonBody(request, ctx.config.MAX_BODY_BYTES);
  };

/** One verification per request, shared by the parse hook and the derive that exposes `claims`. */
const verifiedClaims = new WeakMap<Request, Promise<Claims>>();

function claimsOf(ctx: Context, request: Request): Promise<Claims> {
  let claims = verifiedClaims.get(request);
  if (!claims) {
    const authorization = request.headers.get("authorization");
    const token = bearerToken(authorization);
    claims =
      request.headers.get("x-internal-secret") && !authorization
        ? Promise.reject(new AppError("UNAUTHORIZED", "This endpoint takes a user token, not the internal secret"))
        : ctx.auth.verify(token).then((verified) => {
            userNotYetRead.set(request, verified);
            return verified;
          });
    // Awaited by the hooks; this only keeps a refusal from counting as an unhandled rejection meanwhile.
    claims.catch(() => {});
    verifiedClaims.set(request, claims);
  }
  return claims;
}

/** Requests whose token is verified and whose user is not read yet (by authentication once the body is in, or by the route itself). */
const userNotYetRead = new WeakMap<Request, Claims>();

const CALLER_CODES = new Set(["UNAUTHORIZED", "TOKEN_EXPIRED", "USER_NOT_FOUND", "FORBIDDEN"]);
/** A refusal that may be the caller's own: judging the caller again could only repeat it (or a 403 of the route). */
const isCallerRefusal = (error: unknown) => error instanceof AppError && CALLER_CODES.has(error.code);

/** How authentication refuses the caller of such a request, if it does. */
async function callerRefusal(ctx: Context, request: Request): Promise<AppError | undefined> {
  const claims = userNotYetRead.get(request);
  if (claims === undefined) return undefined;
  try {
    await ctx.auth.readCaller(claims);
    return undefined;
  } catch (error) {
    // Only a refusal: with the database out of reach, the caller's own mistake is still the answer.
    return error instanceof AppError ? error : undefined;
  }
}

/** Internal API: the host's X-Internal-Secret, compared in constant time. A JWT never opens it. */
export function internalOnly(ctx: Context) {
  const requireSecret = (request: Request) => {
    if (!ctx.auth.isInternalSecret(request.headers.get("x-internal-secret"))) {
      throw new AppError("UNAUTHORIZED", "Missing or invalid X-Internal-Secret");
    }
  };
  return new Elysia({ name: "internal-only" })
    .onParse({ as: "scoped" }, ({ request }) => {
      requireSecret(request);
      return readJsonBody(request, ctx.config.MAX_BODY_BYTES);
    })
    .onTransform({ as: "scoped" }, ({ request }) => requireSecret(request));
}
