// The response inspector: the last response's status, ids, usage and stream timings, and every
// SSE frame of its stream as it came (the type and sequence number on a line, the raw frame
// when opened), so what an app's stream handler would see can be read event by event.

import { clear, h, when } from "./ui.js";

export function createResponseInspector(container) {
  const summary = h("div", { id: "response-summary" });
  const list = h("ol", { class: "sse-events", id: "sse-events" });
  const count = h("span", { class: "muted small", id: "sse-count" });
  const hideDeltas = h("input", { type: "checkbox", id: "sse-hide-deltas" });
  hideDeltas.addEventListener("change", () => list.classList.toggle("hide-deltas", hideDeltas.checked));
  clear(container,
    h("div", { class: "pane-head" }, h("h2", {}, "Response")),
    summary,
    h("div", { class: "pane-head events-head" }, h("h3", {}, "SSE events ", count),
      h("label", { class: "inline small", for: "sse-hide-deltas" }, hideDeltas, " hide text deltas")),
    list);
  let n = 0;

  function empty(text = "The events of a response streamed in this page appear here.") {
    n = 0;
    count.textContent = "";
    clear(list, h("li", { class: "muted small", id: "sse-empty" }, text));
  }

  // A new stream begins: the previous one's events go.
  function reset() {
    clear(summary, h("p", { class: "muted small" }, "Streaming…"));
    n = 0;
    clear(list);
  }

  function event(type, data, raw) {
    n += 1;
    count.textContent = `(${n})`;
    const delta = data && typeof data === "object" && typeof data.delta === "string" ? data.delta : null;
    // data-delta marks the text deltas the "hide" box hides (the bulk of a stream).
    const dataset = type === "response.output_text.delta" ? { type, delta: "" } : { type };
    list.append(h("li", { class: "sse-event", dataset },
      h("details", {},
        h("summary", {},
          h("span", { class: "mono seq" }, data && data.sequence_number != null ? String(data.sequence_number) : ""),
          h("span", { class: "mono" }, type),
          delta !== null ? h("span", { class: "mono muted" }, ` ${JSON.stringify(delta)}`) : null),
        h("pre", { class: "small raw", "data-role": "raw" }, raw))));
  }

  // The response as it ended (or as stored), with what this page measured of its stream.
  function show(r, stats) {
    if (!r) {
      clear(summary, h("p", { class: "muted small" }, "No response yet."));
      return;
    }
    const u = r.usage;
    const cached = u && u.input_tokens_details ? u.input_tokens_details.cached_tokens || 0 : 0;
    clear(summary, h("dl", { class: "kv" },
      kv("Status", h("span", { class: `badge ${r.status}`, "data-role": "response-status" }, r.status.replace("_", " "))),
      kv("Response", h("span", { class: "mono small", "data-role": "response-id" }, r.id)),
      kv("Previous", h("span", { class: "mono small", "data-role": "previous-response-id" }, r.previous_response_id || "—")),
      kv("Model", r.model),
      kv("Tools", (r.tools || []).map((t) => t.type).join(", ") || "none"),
      kv("Usage", u ? h("span", { "data-role": "usage" },
        `${u.input_tokens} input · ${u.output_tokens} output · ${cached} cached · ${u.total_tokens} total`) : "—"),
      kv("Created", when(r.created_at)),
      stats ? kv("Stream", h("span", { "data-role": "stream-stats" }, streamStats(stats, n))) : null,
      r.incomplete_details ? kv("Incomplete", r.incomplete_details.reason) : null,
      r.error ? kv("Error", h("span", { class: "error-text" }, `${r.error.code || "error"}: ${r.error.message}`)) : null));
  }

  empty();
  return { reset, event, show, empty };
}

function kv(k, v) {
  return [h("dt", {}, k), h("dd", {}, v)];
}

function streamStats(s, events) {
  const parts = [`${events} events`, `${s.deltas} text deltas`];
  if (s.firstToken != null) parts.push(`first token after ${Math.round(s.firstToken)} ms`);
  if (s.duration != null) parts.push(`stream ${(s.duration / 1000).toFixed(2)} s`);
  return `${parts.join(" · ")} (measured in this page)`;
}
