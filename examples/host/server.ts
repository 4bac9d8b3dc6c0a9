/**
 * The host application: it owns users and sessions, and puts the chat service behind its own
 * authorization. Routes:
 *
 *   GET /                  the web chat (examples/web), bundled by Bun from its HTML
 *   POST /session {name}   sign in by name (a demo's stand-in for a real login): cookie session
 *   GET /session           who is signed in; DELETE /session signs out
 *   GET /session/token     a chat JWT and the Socket.IO URL, for the client SDK
 *   GET /people            everyone who has signed in, to start a conversation with
 *   /api/*                 the chat service's REST API, called as the session's user
 *   POST /webhooks/chat    the chat service's signed webhooks
 *   POST /moderation/chat  the chat service's pre-send hook (when MODERATION_HOOK_URL points here)
 */
import page from "../web/index.html";
import { chatService } from "./chat";
import type { HostConfig } from "./config";
import { jsonLog, type Log } from "./log";
import { moderationHook } from "./moderation";
import { webhookReceiver } from "./webhooks";

type User = { id: string; name: string };

const COOKIE = "sid";

/**
 * The host's user id for a name: "Zoë Lee" → "zoe-lee"; a name with no Latin letter or digit gets
 * its UTF-8 bytes in hex (the chat service takes 1–128 characters of [A-Za-z0-9_.:@-]).
 */
function userIdFor(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/\p{Diacritic}/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
  return slug || (name && `u-${Buffer.from(name).toString("hex").slice(0, 120)}`);
}

const unauthorized = () => Response.json({ error: { code: "UNAUTHORIZED", message: "Sign in first" } }, { status: 401 });
const crossOrigin = () => Response.json({ error: { code: "FORBIDDEN", message: "Cross-origin request" } }, { status: 403 });

export function startHost(config: HostConfig, log: Log = jsonLog) {
  const chat = chatService(config);
  // In memory: a real host has its users table and session store.
  const users = new Map<string, User>();
  const sessions = new Map<string, User>();
  const sessionUser = (req: Bun.BunRequest) => sessions.get(req.cookies.get(COOKIE) ?? "");

  /** State-changing calls must come from our own page (the cookie alone is not proof). */
  const sameOrigin = (req: Request) => {
    const origin = req.headers.get("origin");
    return origin === null || origin === new URL(req.url).origin;
  };

  return Bun.serve({
    port: config.port,
    development: false,
    routes: {
      "/": page,

      "/session": {
        GET: (req) => {
          const user = sessionUser(req);
          return user ? Response.json(user) : unauthorized();
        },
        POST: async (req) => {
          if (!sameOrigin(req)) return crossOrigin();
          const { name } = (await req.json().catch(() => ({}))) as { name?: unknown };
          const trimmed = typeof name === "string" ? name.trim().slice(0, 40) : "";
          const id = userIdFor(trimmed);
          if (!id) return Response.json({ error: { code: "VALIDATION_ERROR", message: "Type your name" } }, { status: 400 });
          const user = users.get(id) ?? { id, name: trimmed };
          await chat.syncUser(user);
          users.set(id, user);
          const sid = crypto.randomUUID();
          sessions.set(sid, user);
          // Over HTTPS a real host adds `secure: true`.
          req.cookies.set(COOKIE, sid, { httpOnly: true, sameSite: "lax", path: "/" });
          log("signed in", { userId: id });
          return Response.json(user);
        },
        DELETE: (req) => {
          sessions.delete(req.cookies.get(COOKIE) ?? "");
          req.cookies.delete(COOKIE);
          return new Response(null, { status: 204 });
        },
      },

      "/session/token": {
        GET: async (req) => {
          const user = sessionUser(req);
          if (!user) return unauthorized();
          return Response.json({ token: await chat.mintToken(user.id), url: config.chatSocketUrl });
        },
      },

      "/people": {
        GET: (req) => (sessionUser(req) ? Response.json([...users.values()]) : unauthorized()),
      },

      "/api/*": (req) => {
        const user = sessionUser(req);
        if (!user) return unauthorized();
        if (!sameOrigin(req)) return crossOrigin();
        return chat.proxy(req, user.id);
      },

      "/webhooks/chat": { POST: webhookReceiver(config.webhookSecret, log) },
      "/moderation/chat": { POST: moderationHook(config.webhookSecret) },
    },
    fetch: () => new Response("Not found", { status: 404 }),
    error(error) {
      log("request failed", { error: String(error) });
      return Response.json({ error: { code: "UNAVAILABLE", message: "The chat service did not answer" } }, { status: 503 });
    },
  });
}
