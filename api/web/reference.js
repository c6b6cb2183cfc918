// Renders /api/v1/openapi.json: every operation with its role, parameters, body and answers.
import { h } from "./lib.js";

function typeOf(schema, doc, depth = 0) {
  if (!schema) return "";
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return h("a", { href: `#schema-${name}` }, name);
  }
  if (schema.anyOf) return h("span", {}, ...schema.anyOf.flatMap((s, i) => [i ? " | " : "", typeOf(s, doc, depth)]));
  if (schema.type === "array") return h("span", {}, "[", typeOf(schema.items, doc, depth), "]");
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  return schema.format ? `${schema.type} (${schema.format})` : schema.type || "object";
}

function schemaTable(name, schema, doc) {
  const props = schema.properties || {};
  const req = new Set(schema.required || []);
  return h("section", { id: `schema-${name}`, class: "panel", style: "margin-bottom:.75rem" },
    h("h2", {}, name), schema.description ? h("p", { class: "meta" }, schema.description) : "",
    h("table", {}, h("tbody", {}, ...Object.entries(props).map(([k, v]) => h("tr", {},
      h("td", {}, h("code", {}, k), req.has(k) ? " *" : ""), h("td", {}, typeOf(v, doc)),
      h("td", { class: "meta" }, v.description || ""))))));
}

const doc = await (await fetch("/api/v1/openapi.json")).json();
const main = document.getElementById("main");
const ops = [];
for (const [path, methods] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(methods)) {
    const params = (op.parameters || []).map((p) => h("tr", {}, h("td", {}, h("code", {}, p.name), p.required ? " *" : ""),
      h("td", {}, p.in), h("td", {}, typeOf(p.schema, doc)), h("td", { class: "meta" }, p.description || "")));
    const body = op.requestBody ? Object.entries(op.requestBody.content).map(([t, c]) => h("div", {}, "body ", h("code", {}, t), " ", typeOf(c.schema, doc))) : [];
    const answers = Object.entries(op.responses).map(([code, r]) => {
      const c = r.content ? Object.entries(r.content)[0] : null;
      return h("tr", {}, h("td", {}, code), h("td", {}, r.description), h("td", {}, c ? h("span", {}, h("code", {}, c[0]), " ", typeOf(c[1].schema, doc)) : ""));
    });
    ops.push(h("section", { class: "panel", style: "margin-bottom:.75rem", id: op.operationId },
      h("h2", {}, h("code", {}, method.toUpperCase(), " ", path), " — ", op.summary),
      op.description ? h("p", {}, op.description.replaceAll("**", "")) : h("p", { class: "meta" }, "No login needed."),
      params.length ? h("table", {}, h("thead", {}, h("tr", {}, ...["parameter", "in", "type", ""].map((t) => h("th", {}, t)))), h("tbody", {}, ...params)) : "",
      ...body,
      h("table", {}, h("thead", {}, h("tr", {}, ...["answer", "", "body"].map((t) => h("th", {}, t)))), h("tbody", {}, ...answers))));
  }
}
main.replaceChildren(h("h1", {}, `${doc.info.title} ${doc.info.version}`), h("p", {}, doc.info.description), ...ops,
  h("h1", {}, "Schemas"), ...Object.entries(doc.components.schemas).map(([n, s]) => schemaTable(n, s, doc)));
