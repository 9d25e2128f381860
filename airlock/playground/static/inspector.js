// The run inspector: each run of the open thread with its status, model, usage, timings and
// steps (function calls, file_search results with scores and content, code with its logs and
// images), kept live from the stream's events; a form answers a run that requires action.

import { get, mergeDelta, post, STEP_INCLUDE } from "./api.js";
import { busy, clear, h, pretty, seconds, shortId, when } from "./ui.js";

const ACTIVE = new Set(["queued", "in_progress", "requires_action", "cancelling"]);

export function createInspector(container, { threadId, openFile, loadImage, submitOutputs }) {
  const runs = new Map(); // id -> {run, steps: Map, stats}
  // Outputs typed for a waiting function call, by call id: the card is redrawn as events arrive,
  // and what the user typed must survive that.
  const drafts = new Map();
  let seq = 0; // arrival order, for runs created in the same second
  const list = h("div", { class: "runs", id: "runs" });
  const refreshButton = h("button", { type: "button", class: "small ghost", id: "runs-refresh", title: "Reload runs" }, "↻");
  clear(container,
    h("div", { class: "pane-head" }, h("h2", {}, "Runs"), refreshButton),
    list);
  refreshButton.addEventListener("click", () => busy(refreshButton, load));

  const entry = (run) => {
    let e = runs.get(run.id);
    if (!e) {
      e = { run, steps: new Map(), stats: null, el: null, open: true, order: seq++ };
      runs.set(run.id, e);
    }
    return e;
  };

  async function load() {
    if (!threadId) {
      clear(list, h("p", { class: "muted" }, "Runs of the open thread appear here."));
      return;
    }
    const page = await get(`/v1/threads/${encodeURIComponent(threadId)}/runs`, { limit: 20, order: "desc" });
    const stepLists = await Promise.all(page.data.map((r) => get(
      `/v1/threads/${encodeURIComponent(threadId)}/runs/${encodeURIComponent(r.id)}/steps`,
      { limit: 100, order: "asc", ...STEP_INCLUDE })));
    [...page.data].reverse().forEach((run, j) => {
      const i = page.data.length - 1 - j;
      const e = entry(run);
      e.run = run;
      e.steps = new Map(stepLists[i].data.map((s) => [s.id, s]));
    });
    draw();
  }

  function ordered() {
    return [...runs.values()].sort((a, b) => (b.run.created_at - a.run.created_at)
      || b.order - a.order);
  }

  function draw() {
    const all = ordered();
    if (!all.length) {
      clear(list, h("p", { class: "muted", id: "no-runs" }, "No runs yet. Send a message to start one."));
      return;
    }
    clear(list, all.map((e, i) => {
      if (i > 0 && e.open === true && !e.touched) e.open = false;
      return card(e);
    }));
  }

  function redraw(e) {
    const fresh = card(e);
    if (e.el && e.el.isConnected) e.el.replaceWith(fresh);
    else draw();
  }

  function card(e) {
    const { run } = e;
    const u = run.usage;
    const ended = run.completed_at || run.failed_at || run.cancelled_at
      || (run.status === "expired" ? run.expires_at : null);
    const details = h("details", { class: `run status-${run.status}`, open: e.open, dataset: { runId: run.id, status: run.status } },
      h("summary", {},
        h("span", { class: `badge ${run.status}`, "data-role": "run-status" }, run.status.replace("_", " ")),
        h("span", { class: "mono" }, shortId(run.id)),
        h("span", { class: "muted" }, run.model)),
      h("dl", { class: "kv" },
        kv("Run", h("span", { class: "mono small" }, run.id)),
        kv("Model", run.model),
        kv("Assistant", h("span", { class: "mono small" }, run.assistant_id)),
        kv("Usage", u ? h("span", { "data-role": "usage" },
          `${u.prompt_tokens} prompt · ${u.completion_tokens} completion · `
          + `${(u.prompt_token_details && u.prompt_token_details.cached_tokens) || 0} cached · ${u.total_tokens} total`) : "—"),
        kv("Created", when(run.created_at)),
        kv("Started", when(run.started_at)),
        kv("Ended", ended ? when(ended) : ACTIVE.has(run.status) ? "running…" : "—"),
        kv("Timings", [
          seconds(run.created_at, run.started_at) ? `queued ${seconds(run.created_at, run.started_at)}` : null,
          ended && run.started_at ? `ran ${seconds(run.started_at, ended)}` : null,
          ended ? `total ${seconds(run.created_at, ended)}` : null,
        ].filter(Boolean).join(" · ") || "—"),
        e.stats ? kv("Stream", h("span", { "data-role": "stream-stats" }, streamStats(e.stats))) : null,
        run.temperature != null ? kv("Sampling", `temperature ${run.temperature} · top_p ${run.top_p}`) : null,
        run.incomplete_details ? kv("Incomplete", run.incomplete_details.reason) : null),
      run.last_error ? h("p", { class: "error-text", "data-role": "run-error" }, `${run.last_error.code}: ${run.last_error.message}`) : null,
      run.status === "requires_action" && run.required_action ? actionForm(run) : null,
      ACTIVE.has(run.status) && run.status !== "cancelling" ? h("button", { type: "button", class: "small danger", dataset: { role: "cancel" }, onclick: (ev) => busy(ev.currentTarget, async () => {
        update(await post(`/v1/threads/${encodeURIComponent(run.thread_id)}/runs/${encodeURIComponent(run.id)}/cancel`, {}));
      }) }, "Cancel run") : null,
      h("h3", { class: "steps-title" }, `Steps (${e.steps.size})`),
      h("ol", { class: "steps" }, [...e.steps.values()].map((s) => stepView(s))));
    details.addEventListener("toggle", () => {
      // Chromium also fires "toggle" for a card created open; only a user's toggle counts.
      if (details.open === e.open) return;
      e.open = details.open;
      e.touched = true;
    });
    e.el = details;
    return details;
  }

  function actionForm(run) {
    const calls = run.required_action.submit_tool_outputs.tool_calls;
    const form = h("form", { class: "tool-outputs", dataset: { runId: run.id } },
      h("p", { class: "notice" }, `The run is waiting for ${calls.length === 1 ? "a function output" : `${calls.length} function outputs`}.`),
      calls.map((c) => h("div", { class: "tool-call", dataset: { callId: c.id } },
        h("div", {}, h("code", { class: "fn-name" }, c.function.name), h("span", { class: "muted small mono" }, ` ${c.id}`)),
        h("pre", { class: "code small" }, pretty(c.function.arguments)),
        h("label", { for: `out-${c.id}` }, "Output"),
        h("textarea", { id: `out-${c.id}`, rows: 3, class: "mono", name: c.id, placeholder: "{\"result\": ...}",
          value: drafts.get(c.id) || "", oninput: (ev) => drafts.set(c.id, ev.currentTarget.value) }))),
      h("button", { type: "submit", class: "primary", dataset: { role: "submit-outputs" } }, "Submit outputs"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      // The card is redrawn as the run's events and reloads arrive, so what was typed may have
      // gone into a textarea since replaced: the draft holds the latest text either way.
      const outputs = calls.map((c) => ({ tool_call_id: c.id, output: drafts.get(c.id) ?? form.elements[c.id].value }));
      busy(form.querySelector("button[type=submit]"), () => submitOutputs(run, outputs));
    });
    return form;
  }

  function stepView(s) {
    const u = s.usage;
    const head = h("div", { class: "step-head" },
      h("span", { class: `badge ${s.status}` }, s.status.replace("_", " ")),
      h("strong", {}, s.type === "message_creation" ? "Message" : "Tool calls"),
      h("span", { class: "muted small mono" }, ` ${shortId(s.id)}`),
      u ? h("span", { class: "muted small" }, ` · ${u.prompt_tokens}+${u.completion_tokens} tokens`
        + ((u.prompt_token_details && u.prompt_token_details.cached_tokens) ? ` (${u.prompt_token_details.cached_tokens} cached)` : "")) : null);
    const body = [];
    const d = s.step_details || {};
    if (d.type === "message_creation") {
      body.push(h("p", { class: "muted small" }, "Wrote ", h("span", { class: "mono" }, d.message_creation.message_id)));
    } else if (d.type === "tool_calls") {
      for (const c of d.tool_calls || []) body.push(toolCall(c));
    }
    if (s.last_error) body.push(h("p", { class: "error-text small" }, s.last_error.message));
    return h("li", { class: "step", dataset: { stepId: s.id, stepType: s.type } }, head, body);
  }

  function toolCall(c) {
    if (c.type === "function") {
      const f = c.function || {};
      return h("div", { class: "call function", dataset: { callType: "function" } },
        h("div", {}, "function ", h("code", { class: "fn-name" }, f.name || "")),
        h("div", { class: "label" }, "arguments"), h("pre", { class: "code small", "data-role": "arguments" }, pretty(f.arguments || "")),
        h("div", { class: "label" }, "output"),
        f.output == null ? h("p", { class: "muted small" }, "waiting for the output")
          : h("pre", { class: "code small", "data-role": "output" }, pretty(f.output)));
    }
    if (c.type === "file_search") {
      const fs = c.file_search || {};
      const results = fs.results || [];
      const ro = fs.ranking_options;
      return h("div", { class: "call file-search", dataset: { callType: "file_search" } },
        h("div", {}, "file_search", ro ? h("span", { class: "muted small" }, ` · ${ro.ranker}, threshold ${ro.score_threshold}`) : null),
        results.length ? h("ol", { class: "results" }, results.map((r) => h("li", { class: "result", dataset: { fileId: r.file_id } },
          h("div", {},
            h("a", { href: "#", class: "result-file", onclick: (ev) => {
              ev.preventDefault();
              openFile(r.file_id, r.file_name);
            } }, r.file_name || r.file_id),
            h("span", { class: "score", "data-role": "score" }, ` score ${Number(r.score).toFixed(3)}`)),
          r.content && r.content.length ? h("details", { class: "result-content" }, h("summary", {}, "content"),
            h("pre", { class: "small" }, r.content.map((p) => p.text).join("\n"))) : null)))
          : h("p", { class: "muted small" }, s_pending(c)));
    }
    if (c.type === "code_interpreter") {
      const ci = c.code_interpreter || {};
      return h("div", { class: "call code", dataset: { callType: "code_interpreter" } },
        h("div", {}, "code_interpreter"),
        h("pre", { class: "code small", "data-role": "code-input" }, ci.input || ""),
        (ci.outputs || []).map((o) => o.type === "logs"
          ? h("pre", { class: "logs small", "data-role": "logs" }, o.logs)
          : o.type === "image" ? image(o.image.file_id) : null));
    }
    return h("pre", { class: "small" }, pretty(c));
  }

  function s_pending(c) {
    return c.file_search && c.file_search.results ? "no results" : "searching…";
  }

  function image(fileId) {
    const img = h("img", { class: "output-image", alt: `image ${fileId}`, dataset: { fileId } });
    loadImage(img, fileId);
    return img;
  }

  function update(run) {
    const e = entry(run);
    e.run = run;
    redraw(e);
  }

  function step(event, data) {
    if (event === "thread.run.step.delta") {
      for (const e of runs.values()) {
        const s = e.steps.get(data.id);
        if (s) {
          mergeDelta(s, data.delta);
          redraw(e);
          return;
        }
      }
      return;
    }
    const e = entry({ id: data.run_id, created_at: data.created_at, status: "in_progress", thread_id: data.thread_id });
    e.steps.set(data.id, data);
    redraw(e);
  }

  function stats(runId, value) {
    const e = runs.get(runId);
    if (!e) return;
    e.stats = value;
    redraw(e);
  }

  return { load, update, step, stats, runs };
}

function kv(k, v) {
  return [h("dt", {}, k), h("dd", {}, v)];
}

function streamStats(s) {
  const parts = [];
  if (s.firstToken != null) parts.push(`first token after ${Math.round(s.firstToken)} ms`);
  parts.push(`${s.deltas} text deltas`);
  if (s.duration != null) parts.push(`stream ${(s.duration / 1000).toFixed(2)} s`);
  return `${parts.join(" · ")} (measured in this page)`;
}

