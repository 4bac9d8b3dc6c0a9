import { type AnyElysia, Elysia, t } from "elysia";
import { renderDocsPage } from "./docs-page";
import { type Metrics, PROMETHEUS_CONTENT_TYPE } from "./metrics";
import { type OpenApiDocument, openApiDocument } from "./openapi";
import { checkReadiness, type ReadinessParts } from "./readiness";

export type Ops = {
  metrics: Metrics;
  readiness: ReadinessParts;
  version: string;
  /** The root app, whose routes the OpenAPI document describes (read at the first request). */
  app: () => AnyElysia;
};

const Checks = t.Record(t.String(), t.String());

/** Operations endpoints on PORT (never on WS_PORT, the public one): no authentication. */
export function opsRoutes(ops: Ops) {
  let doc: OpenApiDocument | undefined;
  let page: string | undefined;
  const document = () => (doc ??= openApiDocument(ops.app(), ops.version));
  return new Elysia({ name: "ops", tags: ["operations"] })
    .get("/health", () => ({ status: "ok" as const }), {
      response: t.Object({ status: t.Literal("ok") }),
      detail: { summary: "Liveness: the process is up and serving HTTP" },
    })
    .get("/ready", () => checkReadiness(ops.readiness), {
      response: t.Object({ status: t.Literal("ready"), checks: Checks }),
      detail: { summary: "Readiness: database reachable and migrated, Redis reachable; 503 UNAVAILABLE otherwise or while shutting down" },
    })
    .get(
      "/metrics",
      async () => new Response(await ops.metrics.render(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } }),
      { detail: { summary: "Metrics of this instance in the Prometheus text format" } },
    )
    .get("/openapi.json", () => document(), { detail: { hide: true } })
    .get("/docs", () => new Response((page ??= renderDocsPage(document())), { headers: { "content-type": "text/html; charset=utf-8" } }), {
      detail: { hide: true },
    });
}
