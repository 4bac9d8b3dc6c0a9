import { toOpenAPISchema, unwrapSchema } from "@elysiajs/openapi/openapi";
import type { AnyElysia } from "elysia";
import { ERROR_STATUS } from "../core/errors";

type Json = Record<string, unknown>;
type Operation = Json & { tags?: string[]; responses?: Record<string, unknown>; requestBody?: { content?: Record<string, unknown> } };
export type OpenApiDocument = { openapi: string; info: Json; servers: Json[]; tags: Json[]; paths: Record<string, Record<string, Operation>>; components: Json };

const ERROR_SCHEMA = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: {
          type: "string",
          enum: Object.keys(ERROR_STATUS),
        },
        message: { type: "string" },
        details: {},
      },
    },
  },
};

const TAGS = [
  { name: "conversations", description: "Conversations and their participants (user JWT)" },
  { name: "messages", description: "Messages, in per-conversation seq order (user JWT)" },
  { name: "reactions", description: "Reactions on messages (user JWT)" },
  { name: "read receipts", description: "Read state: a per-participant watermark (user JWT)" },
  { name: "presence", description: "Who is online (user JWT)" },
  { name: "moderation", description: "Blocks, mutes, bans and flags (user JWT); suspension and the flag review queue are internal" },
  { name: "internal", description: "Internal API for the host application: users, flagged messages, webhook outbox (X-Internal-Secret)" },
  { name: "operations", description: "Liveness, readiness and metrics (no authentication: keep PORT off the public network)" },
];

const DESCRIPTION = `REST and internal API of the chat service. Real-time events travel over Socket.IO (path /socket.io/,
on WS_PORT and PORT); webhooks are POSTed to WEBHOOK_URL and signed per the Standard Webhooks specification.
Errors are always { "error": { "code", "message", "details"? } }; lists are { data, hasMore, nextCursor }.
Every response carries an X-Request-Id header (the caller's, when it sent a valid one).`;

/**
 * Elysia stores integers as "a number, or a string holding one" so that query strings coerce; on
 * the wire of a JSON body or response they are plain integers, which is what clients should see.
 * TypeBox's custom `error` message (see Limit in src/core/schemas.ts) is not a JSON Schema
 * keyword: it stays out of the document.
 */
function plainNumbers(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(plainNumbers);
  if (node === null || typeof node !== "object") return node;
  let obj = node as Json;
  if (typeof obj.error === "string" && "type" in obj) {
    const { error: _, ...schema } = obj;
    obj = schema;
  }
  const anyOf = obj.anyOf as Json[] | undefined;
  if (anyOf?.length === 2) {
    const text = anyOf.findIndex((s) => s.type === "string" && (s.format === "integer" || s.format === "numeric"));
    if (text !== -1) {
      const { anyOf: _, ...outer } = obj;
      return plainNumbers({ ...outer, ...anyOf[1 - text] });
    }
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, plainNumbers(v)]));
}

const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });

const documentPath = (path: string) => (path.length > 1 ? path.replace(/\/$/, "") : path).replace(/:(\w+)/g, "{$1}");

/**
 * Request bodies by operation. Our parse hooks read every body as JSON whatever its Content-Type,
 * which the generator cannot see (it then lists no media type): the route's schema says it.
 * A body that `{}` satisfies is optional, since an empty body reads as `{}`.
 */
function jsonBodies(app: AnyElysia): Map<string, Json> {
  const bodies = new Map<string, Json>();
  for (const route of app.routes) {
    const body = (route.hooks as { body?: Parameters<typeof unwrapSchema>[0] }).body;
    const schema = body && (unwrapSchema(body, undefined, "input", "3.1.0") as Json | undefined);
    if (!schema) continue;
    const required = Array.isArray(schema.required) && schema.required.length > 0;
    bodies.set(`${route.method.toLowerCase()} ${documentPath(route.path)}`, { required, content: { "application/json": { schema: plainNumbers(schema) } } });
  }
  return bodies;
}

function completeOperation(method: string, op: Operation, requestBody: Json | undefined): Operation {
  const tags = op.tags?.length ? op.tags : ["operations"];
  const responses: Record<string, unknown> = { ...op.responses };
  for (const [status, response] of Object.entries(responses)) {
    const r = response as Json;
    if (typeof r.description !== "string" || r.description.startsWith("Response for status")) {
      responses[status] = { ...r, description: status === "201" ? "Created" : "OK" };
    }
  }
  if (Object.keys(responses).length === 0) responses[method === "delete" ? "204" : "200"] = { description: method === "delete" ? "No content" : "OK" };
  responses["4XX"] = errorResponse("The request was refused: see error.code");
  responses["5XX"] = errorResponse("INTERNAL, or UNAVAILABLE while a dependency is down or the instance is shutting down");
  const security = tags.includes("operations") ? [] : tags.includes("internal") ? [{ internalSecret: [] }] : [{ bearer: [] }];
  return { ...op, tags, ...(requestBody && { requestBody }), responses, security };
}

/** The OpenAPI 3.1 document of every route of `app`, from the TypeBox schemas the routes validate with. */
export function openApiDocument(app: AnyElysia, version: string): OpenApiDocument {
  const generated = toOpenAPISchema(app, undefined, undefined, undefined, "3.1.0") as { paths: Record<string, Record<string, Operation>>; components: { schemas?: Json } };
  const bodies = jsonBodies(app);
  const paths: OpenApiDocument["paths"] = {};
  for (const [path, item] of Object.entries(generated.paths)) {
    const clean = documentPath(path);
    for (const [method, op] of Object.entries(item)) {
      (paths[clean] ??= {})[method] = completeOperation(method, plainNumbers(op) as Operation, bodies.get(`${method} ${clean}`));
    }
  }
  const used = new Set(Object.values(paths).flatMap((item) => Object.values(item).flatMap((op) => op.tags ?? [])));
  const tags = [...TAGS.filter((t) => used.delete(t.name)), ...[...used].map((name) => ({ name }))];
  return {
    openapi: "3.1.0",
    info: { title: "Chat Service API", version, description: DESCRIPTION, license: { name: "MIT", identifier: "MIT" } },
    servers: [{ url: "/", description: "The instance serving this document (PORT)" }],
    tags,
    paths,
    components: {
      schemas: { ...(plainNumbers(generated.components.schemas ?? {}) as Json), Error: ERROR_SCHEMA },
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "HS256 JWT minted by the host with AUTH_JWT_SECRET; sub is the external user id" },
        internalSecret: { type: "apiKey", in: "header", name: "X-Internal-Secret", description: "INTERNAL_API_SECRET, server to server only" },
      },
    },
  };
}
