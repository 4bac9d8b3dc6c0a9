import { expect, test } from "bun:test";
import { createConfig, lintFromString } from "@redocly/openapi-core";
import { serviceForTests } from "../helpers/service";

const svc = serviceForTests();

test("/openapi.json passes Redocly's recommended rules with no error", async () => {
  const res = await svc.request("GET", "/openapi.json");
  expect(res.status).toBe(200);
  const config = await createConfig({ extends: ["recommended"] });
  const problems = await lintFromString({ source: JSON.stringify(res.body), absoluteRef: "openapi.json", config });
  const errors = problems.filter((p) => p.severity === "error").map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`);
  expect(errors).toEqual([]);
  const warnings = problems.filter((p) => p.severity === "warn").map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`);
  expect(warnings).toEqual([]);
});
