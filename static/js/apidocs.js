// Renders /api/openapi.json and /api/asyncapi.json as a readable reference (no external code).

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
};

const schemaName = (schema) => (schema && schema.$ref ? schema.$ref.split("/").pop() : null);

function schemaLink(schema) {
  if (!schema) return el("span", {}, "none");
  const name = schemaName(schema);
  if (name) return el("a", { href: `#schema-${name}` }, name);
  if (schema.oneOf) {
    const span = el("span");
    schema.oneOf.forEach((s, i) => { if (i) span.append(" or "); span.append(schemaLink(s)); });
    return span;
  }
  return el("code", {}, JSON.stringify(schema));
}

function renderRest(doc) {
  document.getElementById("rest-intro").textContent = doc.info.description;
  const box = document.getElementById("rest-ops");
  box.textContent = "";
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const body = el("div");
      const security = (op.security || []).map((s) => Object.keys(s)[0]).filter(Boolean);
      body.append(el("p", {}, `Authentication: ${security.length ? security.join(" or ") : "none"}`));
      if (op.parameters && op.parameters.length) {
        const table = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "meaning")));
        for (const p of op.parameters) {
          table.append(el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in), el("td", {}, p.description || "")));
        }
        body.append(table);
      }
      if (op.requestBody) {
        const p = el("p", {}, "Body: ");
        p.append(schemaLink(op.requestBody.content["application/json"].schema));
        body.append(p);
      }
      const table = el("table", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "body"), el("th", {}, "meaning")));
      for (const [status, resp] of Object.entries(op.responses)) {
        const content = resp.content && Object.values(resp.content)[0];
        table.append(el("tr", {}, el("td", {}, status), el("td", {}, schemaLink(content && content.schema)),
          el("td", {}, resp.description)));
      }
      body.append(table);
      const summary = el("summary", {}, el("span", { class: `verb ${method}` }, method.toUpperCase()), " ",
        el("code", {}, path), ` — ${op.summary}`);
      box.append(el("details", { class: "op", id: `op-${op.operationId}` }, summary, body));
    }
  }
}

function renderSocket(doc) {
  document.getElementById("socket-intro").textContent = doc.info.description;
  const box = document.getElementById("socket-ops");
  box.textContent = "";
  const messages = doc.components.messages;
  for (const [id, op] of Object.entries(doc.operations)) {
    const message = messages[op.messages[0].$ref.split("/").pop()];
    const direction = op.action === "receive" ? "client → server" : "server → client";
    const body = el("div", {}, el("p", {}, `${direction}. Payload: `));
    body.firstChild.append(schemaLink(message.payload));
    if (op.reply) {
      const ack = messages[op.reply.messages[0].$ref.split("/").pop()];
      const p = el("p", {}, "Ack: ");
      p.append(schemaLink(ack.payload), ` — ${ack.summary}`);
      body.append(p);
    }
    const summary = el("summary", {}, el("span", { class: `verb ${op.action}` }, op.action === "receive" ? "EMIT" : "ON"),
      " ", el("code", {}, message.name), ` — ${op.summary}`);
    box.append(el("details", { class: "op", id: `event-${id}` }, summary, body));
  }
}

function renderSchemas(schemas) {
  const box = document.getElementById("schema-list");
  box.textContent = "";
  for (const [name, schema] of Object.entries(schemas)) {
    box.append(el("h3", { id: `schema-${name}` }, name), el("pre", {}, JSON.stringify(schema, null, 2)));
  }
}

const [rest, socket] = await Promise.all(["/api/openapi.json", "/api/asyncapi.json"].map(async (url) => {
  const response = await fetch(url);
  return response.json();
}));
renderRest(rest);
renderSocket(socket);
renderSchemas(rest.components.schemas);
document.body.dataset.ready = "true";
