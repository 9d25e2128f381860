// A response's turn drawn in the chat: the user's input, then each output item in order —
// messages (markdown, file citations as numbered references, links to the container's files),
// file_search calls (queries, results with scores and text), code_interpreter calls (code, logs,
// images), function calls — and anything else as its JSON.

import { request } from "./api.js";
import { containerFilePath, renderText } from "./markdown.js";
import { clear, h, pretty, shortId } from "./ui.js";

// The turn of one response: `item` redraws one output item, `items` all of them, `response`
// the status line (the stream's lifecycle events and the stored response both feed it).
export function createTurn(inputText) {
  const list = h("div", { class: "response-items" });
  const meta = h("div", { class: "turn-meta" });
  const el = h("section", { class: "turn", dataset: { status: "in_progress", deltas: "0" } },
    h("article", { class: "msg user" }, h("header", {}, h("span", { class: "role" }, "You")),
      h("div", { class: "msg-body" }, markdown(inputText))),
    list, meta);
  let shown = []; // output index -> element
  return {
    el,
    item(index, item) {
      const fresh = drawItem(item);
      if (shown[index] && shown[index].isConnected) shown[index].replaceWith(fresh);
      else list.append(fresh);
      shown[index] = fresh;
    },
    items(output) {
      shown = (output || []).map((item) => drawItem(item));
      clear(list, shown);
    },
    response(r) {
      el.dataset.responseId = r.id;
      el.dataset.status = r.status;
      const reason = r.incomplete_details && r.incomplete_details.reason;
      clear(meta,
        h("span", { class: `badge ${r.status}`, "data-role": "status" }, `${r.status.replace("_", " ")}${reason ? `: ${reason}` : ""}`),
        h("span", { class: "mono muted small", title: r.id }, shortId(r.id)),
        r.usage ? h("span", { class: "muted small" }, `${r.usage.input_tokens} in · ${r.usage.output_tokens} out`) : null,
        r.error ? h("p", { class: "error-text small", "data-role": "error" }, `${r.error.code || "error"}: ${r.error.message}`) : null);
    },
  };
}

function markdown(text, annotations) {
  const div = h("div", { class: "md" });
  div.innerHTML = renderText(text, annotations).html; // the escaping renderer (markdown.js)
  return div;
}

export function drawItem(item) {
  const el = h("div", { class: `item item-${item.type}`, dataset: { itemType: item.type, itemId: item.id || "", status: item.status || "" } });
  if (item.type === "message") clear(el, message(item));
  else if (item.type === "file_search_call") clear(el, fileSearch(item));
  else if (item.type === "code_interpreter_call") clear(el, code(item));
  else if (item.type === "function_call") clear(el, functionCall(item));
  else clear(el, head(item.type, item.status), h("pre", { class: "code small" }, pretty(item)));
  return el;
}

function head(title, status, ...extra) {
  return h("div", { class: "call-head" }, h("strong", {}, title),
    status ? h("span", { class: `badge ${status}`, "data-role": "item-status" }, status.replace("_", " ")) : null, extra);
}

function message(item) {
  const parts = [];
  const refs = [];
  const files = [];
  for (const part of item.content || []) {
    if (part.type === "output_text") {
      const r = renderText(part.text, part.annotations);
      const div = h("div", { class: "md" });
      div.innerHTML = r.html; // the escaping renderer (markdown.js)
      parts.push(div);
      for (const ref of r.refs) if (!refs.some((x) => x.fileId === ref.fileId)) refs.push({ ...ref, n: refs.length + 1 });
      for (const f of r.files) if (!files.some((x) => x.fileId === f.fileId)) files.push(f);
    } else if (part.type === "refusal") {
      parts.push(h("p", { class: "error-text", "data-role": "refusal" }, part.refusal || ""));
    }
  }
  if (item.status === "in_progress" && !parts.some((p) => p.textContent)) parts.splice(0, parts.length, h("div", { class: "md typing" }, "…"));
  return h("article", { class: `msg ${item.role || "assistant"}`, dataset: { status: item.status || "" } },
    h("header", {}, h("span", { class: "role" }, item.role === "assistant" ? "Assistant" : item.role || "Assistant"),
      item.status === "incomplete" ? h("span", { class: "badge incomplete" }, "incomplete") : null),
    h("div", { class: "msg-body" }, parts),
    refs.length ? h("ol", { class: "refs" }, refs.map((r) => h("li", {},
      h("a", { href: "#", class: "ref", dataset: { fileId: r.fileId, name: r.name } }, `[${r.n}] ${r.name || r.fileId}`)))) : null,
    // Every file of the container the answer cites, also when its link is not in the text.
    files.length ? h("ul", { class: "chips container-files" }, files.map((f) => h("li", { class: "chip" },
      h("a", { href: containerFilePath(f.containerId, f.fileId), class: "container-file", title: `${f.name} in ${f.containerId}`,
        dataset: { containerId: f.containerId, fileId: f.fileId, name: f.name } }, f.name)))) : null);
}

function fileSearch(item) {
  const queries = item.queries || [];
  const results = item.results;
  let found;
  if (Array.isArray(results)) {
    found = results.length ? h("ol", { class: "results" }, results.map((r) => h("li", { class: "result", dataset: { fileId: r.file_id } },
      h("div", {},
        h("a", { href: "#", class: "result-file", dataset: { fileId: r.file_id, name: r.filename || "" } }, r.filename || r.file_id),
        h("span", { class: "score", "data-role": "score" }, ` score ${Number(r.score).toFixed(3)}`)),
      r.text ? h("details", { class: "result-content" }, h("summary", {}, "text"), h("pre", { class: "small" }, r.text)) : null)))
      : h("p", { class: "muted small" }, "no results");
  } else {
    found = h("p", { class: "muted small" }, item.status === "completed" ? "results not included" : "searching…");
  }
  return [head("file_search", item.status),
    queries.length ? h("ul", { class: "queries", "data-role": "queries" }, queries.map((q) => h("li", {}, q))) : null,
    found];
}

function code(item) {
  const outputs = item.outputs;
  return [head("code_interpreter", item.status,
    item.container_id ? h("span", { class: "mono muted small", "data-role": "container" }, item.container_id) : null),
  h("pre", { class: "code small", "data-role": "code" }, item.code || ""),
  Array.isArray(outputs) ? outputs.map((o) => (o.type === "logs"
    ? h("pre", { class: "logs small", "data-role": "logs" }, o.logs)
    : o.type === "image" ? image(o.url) : h("pre", { class: "small" }, pretty(o))))
    : item.status === "completed" ? h("p", { class: "muted small" }, "outputs not included") : null];
}

function functionCall(item) {
  return [head("function", item.status, h("code", { class: "fn-name" }, item.name || "")),
    h("div", { class: "label" }, "arguments"),
    h("pre", { class: "code small", "data-role": "arguments" }, pretty(item.arguments || "")),
    h("p", { class: "muted small" }, "This tab offers no functions; an app answers a call with a function_call_output.")];
}

// Images the code made are the container's files: fetched with the API key, shown as blobs.
const images = new Map();

function image(url) {
  const img = h("img", { class: "output-image", alt: "image from the code" });
  if (/^data:/.test(url || "")) {
    img.src = url;
    return img;
  }
  if (!images.has(url)) {
    const p = request("GET", url).then((r) => r.blob()).then((b) => URL.createObjectURL(b));
    p.catch(() => images.delete(url));
    images.set(url, p);
  }
  images.get(url).then((src) => {
    img.src = src;
  }).catch((e) => {
    img.alt = `image ${url} could not be loaded: ${e.message}`;
  });
  return img;
}
