/**
 * Everything the host says to the chat service: user sync over the internal API, the JWT a
 * browser connects with, and the REST proxy.
 */
import { SignJWT } from "jose";
import type { HostConfig } from "./config";

export type ChatService = ReturnType<typeof chatService>;

/**
 * What a signed-in user may reach through the proxy: the public REST API. The internal API
 * (`/api/users/sync`, `GET/DELETE /api/users/:id`, `/api/webhooks/…`) answers only the host's
 * secret and is never forwarded; neither is anything this app does not use.
 */
const PUBLIC_ROUTES = [
  /^\/api\/conversations(\/|$)/,
  /^\/api\/messages\//,
  /^\/api\/users\/[^/]+\/presence$/,
  /^\/api\/presence\/batch$/,
];

/** Response headers worth passing back to the browser. */
const FORWARDED_HEADERS = ["content-type", "retry-after", "x-request-id"];

export function chatService(config: HostConfig) {
  const jwtKey = new TextEncoder().encode(config.jwtSecret);

  return {
    /** Registers (or updates) the user in the chat service; the host stays the owner of users. */
    async syncUser(user: { id: string; name: string }): Promise<void> {
      const res = await fetch(`${config.chatApiUrl}/api/users/sync`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-internal-secret": config.internalSecret },
        body: JSON.stringify({ externalUserId: user.id, name: user.name }),
      });
      if (!res.ok) throw new Error(`user sync answered ${res.status}: ${await res.text()}`);
    },

    /** A short-lived token: the client SDK asks for a fresh one whenever it reconnects. */
    mintToken(userId: string): Promise<string> {
      return new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(userId).setIssuedAt().setExpirationTime("10m").sign(jwtKey);
    },

    /** Forwards a browser's REST call as `userId`: the session, not the browser, says who calls. */
    async proxy(req: Request, userId: string): Promise<Response> {
      const url = new URL(req.url);
      if (!PUBLIC_ROUTES.some((route) => route.test(url.pathname))) {
        return Response.json({ error: { code: "NOT_FOUND", message: "No such route" } }, { status: 404 });
      }
      // Business rules of the host go here (plans, quotas, who may talk to whom).
      const upstream = await fetch(`${config.chatApiUrl}${url.pathname}${url.search}`, {
        method: req.method,
        headers: {
          authorization: `Bearer ${await this.mintToken(userId)}`,
          "content-type": "application/json",
          ...(req.headers.get("x-request-id") ? { "x-request-id": req.headers.get("x-request-id")! } : {}),
        },
        body: req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer(),
      });
      const headers = new Headers();
      for (const name of FORWARDED_HEADERS) {
        const value = upstream.headers.get(name);
        if (value) headers.set(name, value);
      }
      return new Response(upstream.body, { status: upstream.status, headers });
    },
  };
}
