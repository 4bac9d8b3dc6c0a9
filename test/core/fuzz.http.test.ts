/**
 * Property-based fuzzing of every REST route, taken from the route table: path parameters, query
 * and body shaped like their schemas, nearly shaped, or any JSON. Whatever comes in, the service
 * answers below 500 with the contract's error body, and stays healthy and ready.
 */
import { describe, expect, test } from "bun:test";
import type { TSchema } from "@sinclair/typebox";
import fc from "fast-check";
import { fuzz, payloadOf, valueOf } from "../helpers/arbitraries";
import { rolesFixture } from "../helpers/roles";
import { apiRoutes, expectHealthy, isInternal, type Route, routeKey } from "../helpers/routes";
import { INTERNAL_SECRET, sendRequest, serviceForTests } from "../helpers/service";

const RUNS_PER_ROUTE = 200;
const svc = serviceForTests();

/** A generated request: each path parameter, the query, and the body (a JSON text, or a raw one). */
type Call = { params: Record<string, string>; query: Record<string, unknown>; body: string | undefined };

function callsOf(route: Route, hints: { uuids: string[]; userIds: string[] }): fc.Arbitrary<Call> {
  const names = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
  const paramSchemas = (route.hooks.params as { properties?: Record<string, TSchema> } | undefined)?.properties ?? {};
  const params = fc.record(
    Object.fromEntries(names.map((name) => [name, fc.oneof(paramSchemas[name] ? valueOf(paramSchemas[name] as never, hints) : fc.string(), fc.string({ maxLength: 40 }))])),
  ) as fc.Arbitrary<Record<string, unknown>>;
  const query = route.hooks.query
    ? fc.oneof(valueOf(route.hooks.query as never, hints), fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }))
    : fc.constant({});
  const sendsBody = route.method !== "GET";
  const body = sendsBody
    ? fc.oneof(
        { arbitrary: payloadOf(route.hooks.body as never, hints).map((v) => (v === undefined ? undefined : JSON.stringify(v))), weight: 9 },
        { arbitrary: fc.constantFrom("{", "not json", "[1,", '{"a":1}{', "\u0000", '"' + "\\ud800" + '"'), weight: 1 },
      )
    : fc.constant(undefined);
  return fc.record({ params: params.map((p) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)]))), query: query as fc.Arbitrary<Record<string, unknown>>, body });
}

function urlOf(route: Route, call: Call): string {
  const path = route.path.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(call.params[name] ?? ""));
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(call.query ?? {})) {
    if (value !== undefined) search.append(key, typeof value === "string" ? value : JSON.stringify(value));
  }
  const query = search.toString();
  return query ? `${path}?${query}` : path;
}

/** Below 500, and a refusal in the contract's shape. */
function expectHandled(what: string, res: { status: number; body: any }) {
  if (res.status >= 500) throw new Error(`${what} answered ${res.status}: ${JSON.stringify(res.body)}`);
  if (res.status >= 400 && (typeof res.body?.error?.code !== "string" || typeof res.body.error.message !== "string")) {
    throw new Error(`${what} refused without the contract's error body: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

describe("fuzzing every REST route", () => {
  test("the route table has the routes this file fuzzes", () => {
    // A guard against a filter that silently matches nothing.
    expect(apiRoutes(svc).length).toBeGreaterThan(20);
  });

  test("no input makes a route answer 5xx or leaves the service unhealthy", async () => {
    for (const route of apiRoutes(svc)) {
      const fixture = await rolesFixture(svc);
      const headers: Record<string, string> = isInternal(route)
        ? { "x-internal-secret": INTERNAL_SECRET }
        : { authorization: `Bearer ${fixture.tokens.owner}` };
      // The internal API must not delete or revoke the acting owner: its path ids aim elsewhere.
      const hints = isInternal(route) ? { ...fixture.hints, userIds: fixture.hints.userIds.filter((id) => id !== fixture.users.owner) } : fixture.hints;
      const what = routeKey(route);
      await fuzz(
        what,
        callsOf(route, hints),
        async (call) => {
          const url = urlOf(route, call);
          const res = await sendRequest(svc.url, route.method, url, { body: call.body, headers: { ...headers, "content-type": "application/json" } });
          expectHandled(`${route.method} ${url}`, res);
        },
        RUNS_PER_ROUTE,
      );
      await expectHealthy(svc);
    }
  }, 300_000);
});
