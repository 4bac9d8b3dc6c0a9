import type { OpenApiDocument } from "./openapi";

/*
 * The API reference as one self-contained HTML page, rendered on the server from the OpenAPI
 * document: no script, no stylesheet or font from a CDN, so it works on an air-gapped host.
 * (Swagger UI and Scalar, as @elysiajs/openapi serves them, load their code from unpkg/jsDelivr.)
 */

const escape = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

const anchor = (name: string) => escape(name.replace(/[^A-Za-z0-9_-]+/g, "-"));

/** Element text needs only &, < and > escaped (attributes get `escape`). */
const json = (value: unknown) => `<pre>${JSON.stringify(value, null, 2).replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]!)}</pre>`;

type Param = { name: string; in: string; required?: boolean; schema?: Record<string, unknown> };

function typeOf(schema: Record<string, unknown> | undefined): string {
  if (!schema) return "";
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : (schema.type ?? "");
  return [type, schema.format && `(${schema.format})`].filter(Boolean).join(" ");
}

function operationHtml(path: string, method: string, op: Record<string, any>): string {
  const params = (op.parameters ?? []) as Param[];
  const body = op.requestBody?.content?.["application/json"]?.schema;
  const auth = op.security?.[0] ? Object.keys(op.security[0])[0] : "none";
  const rows = params
    .map((p) => `<tr><td><code>${escape(p.name)}</code></td><td>${escape(p.in)}</td><td>${p.required ? "required" : "optional"}</td><td>${escape(typeOf(p.schema))}</td></tr>`)
    .join("");
  const responses = Object.entries(op.responses ?? {})
    .map(([status, r]: [string, any]) => {
      const schema = r.content?.["application/json"]?.schema;
      return `<li><b>${escape(status)}</b> ${escape(r.description ?? "")}${schema ? `<details><summary>schema</summary>${json(schema)}</details>` : ""}</li>`;
    })
    .join("");
  return `<section class="op" id="${escape(op.operationId ?? `${method}-${path}`)}">
<h3><span class="m ${escape(method)}">${escape(method.toUpperCase())}</span> <code>${escape(path)}</code></h3>
<p>${escape(op.summary ?? "")} <small>auth: ${escape(auth)}</small></p>
${rows ? `<table><tr><th>parameter</th><th>in</th><th></th><th>type</th></tr>${rows}</table>` : ""}
${body ? `<details><summary>request body</summary>${json(body)}</details>` : ""}
<ul>${responses}</ul></section>`;
}

export function renderDocsPage(doc: OpenApiDocument): string {
  const byTag = new Map<string, string[]>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = op.tags?.[0] ?? "operations";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)!.push(operationHtml(path, method, op));
    }
  }
  const tags = doc.tags.filter((t) => byTag.has(String(t.name))) as { name: string; description?: string }[];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(doc.info.title)} ${escape(doc.info.version)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font:13px ui-monospace,monospace}pre{background:#f6f6f6;padding:.6rem;overflow:auto}
.op{border-top:1px solid #ddd;padding:.4rem 0}.m{display:inline-block;min-width:4.5rem;font-size:13px;color:#fff;padding:0 .3rem;border-radius:3px;background:#555}
.get{background:#2b7bb9}.post{background:#2e8540}.put,.patch{background:#b97a2b}.delete{background:#b92b2b}
table{border-collapse:collapse}td,th{padding:.1rem .6rem;text-align:left;border-bottom:1px solid #eee}small{color:#777}
</style></head><body>
<h1>${escape(doc.info.title)} <small>${escape(doc.info.version)}</small></h1>
<p style="white-space:pre-line">${escape(doc.info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${escape(doc.openapi)}).</p>
<nav><ul>${tags.map((t) => `<li><a href="#tag-${anchor(t.name)}">${escape(t.name)}</a>${t.description ? `: ${escape(t.description)}` : ""}</li>`).join("")}</ul></nav>
${tags.map((t) => `<h2 id="tag-${anchor(t.name)}">${escape(t.name)}</h2>${byTag.get(String(t.name))!.join("\n")}`).join("\n")}
</body></html>`;
}
