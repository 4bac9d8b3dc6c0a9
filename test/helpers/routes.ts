/**
 * What tests that walk every route or event read: the REST route table (Elysia's `app.routes`)
 * and the client events a live socket handles, each with its schemas, so that a route or event
 * is covered the day it is added.
 */
import { expect } from "bun:test";
import type { TSchema } from "@sinclair/typebox";
import { handledEvents } from "../../src/core/realtime/handlers";
import type { TestService } from "./service";

export type Route = {
  method: string;
  path: string;
  hooks: { params?: TSchema; query?: TSchema; body?: TSchema; detail?: { tags?: string[] } };
};

/** Every route of the app, as the router holds it. */
export const allRoutes = (service: TestService): Route[] => service.app.http.routes as unknown as Route[];
/** The REST API: public and internal routes under /api/. */
export const apiRoutes = (service: TestService): Route[] => allRoutes(service).filter((r) => r.path.startsWith("/api/"));
/** Internal API routes are tagged `internal` (they take X-Internal-Secret, never a user token). */
export const isInternal = (route: Route) => route.hooks.detail?.tags?.includes("internal") === true;
/** `POST /api/messages/:id/reactions`: a route's name in tables and messages (no trailing slash). */
export const routeKey = (route: Route) => `${route.method} ${route.path.replace(/(.)\/$/, "$1")}`;

/** The client events the service handles, read from one of its live sockets. */
export function socketEvents(service: TestService): Map<string, TSchema> {
  const [socket] = service.app.realtime.io.of("/").sockets.values();
  if (!socket) throw new Error("connect a socket first: events are read from a live one");
  return handledEvents(socket);
}

export async function expectHealthy(service: TestService) {
  expect((await service.request("GET", "/health")).status).toBe(200);
  expect((await service.request("GET", "/ready")).status).toBe(200);
}
