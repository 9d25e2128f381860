// The scripted model panel: queue replies for a thread or for every thread (the global queue),
// see what is queued, clear it. Replies are used by runs on the model named "scripted"
// (README, "The scripted model").

import { api, del, get, post } from "./api.js";
import { rememberedThreads } from "./state.js";
import { busy, clear, h, pretty, showError, toast } from "./ui.js";

const ENDPOINT = "/airlock/v1/scripted/replies";

const KINDS = {
  text: "Text reply",
  function: "Function call",
  file_search: "file_search query",
  code_interpreter: "code_interpreter code",
  error: "Failure",
};

export async function mountScripted(main, { params }) {
  const target = h("select", { id: "script-target" });
  const threads = rememberedThreads();
  const wanted = params.get("thread") || "";
  clear(target, h("option", { value: "" }, "Global queue (any thread)"),
    threads.map((t) => h("option", { value: t.id, selected: t.id === wanted }, `${t.title || "Thread"} · ${t.id}`)),
    wanted && !threads.some((t) => t.id === wanted) ? h("option", { value: wanted, selected: true }, wanted) : null);
  const otherThread = h("input", { id: "script-thread-id", placeholder: "or another thread id: thread_…" });

  const kind = h("select", { id: "script-kind" }, Object.entries(KINDS).map(([k, label]) => h("option", { value: k }, label)));
  const text = h("textarea", { id: "script-text", rows: 4, placeholder: "The reply the model gives" });
  const delay = h("input", { id: "script-delay", type: "number", min: 0, max: 10000, value: 0, class: "num" });
  const fnName = h("input", { id: "script-fn-name", placeholder: "get_weather" });
  const fnArgs = h("textarea", { id: "script-fn-args", rows: 3, class: "mono", placeholder: "{\"city\": \"Paris\"}" });
  const query = h("input", { id: "script-query", placeholder: "refund policy" });
  const code = h("textarea", { id: "script-code", rows: 5, class: "mono", placeholder: "print(6 * 7)" });
  const errorMessage = h("input", { id: "script-error", placeholder: "the model crashed" });
  const errorText = h("textarea", { id: "script-error-text", rows: 2, placeholder: "text emitted before the failure" });

  const rows = {
    text: [row("Text", text), row("Delay per word (ms)", delay)],
    function: [row("Function name", fnName), row("Arguments (JSON)", fnArgs)],
    file_search: [row("Query", query), h("p", { class: "muted small" }, "Queue the answer next (a text reply with 【0:0†file】 markers).")],
    code_interpreter: [row("Code", code), h("p", { class: "muted small" }, "Queue the answer next (a text reply).")],
    error: [row("Error message", errorMessage), row("Text before failing", errorText)],
  };
  const fields = h("div", { class: "script-fields" });
  const drawFields = () => clear(fields, rows[kind.value]);
  kind.addEventListener("change", drawFields);
  drawFields();

  const json = h("textarea", { id: "script-json", rows: 8, class: "mono", spellcheck: "false" });
  json.value = pretty([{ text: "Hello from the scripted model!" }]);
  const queueButton = h("button", { type: "submit", class: "primary", id: "script-queue" }, "Queue reply");
  const jsonButton = h("button", { type: "button", id: "script-queue-json" }, "Queue JSON");
  const queues = h("div", { class: "queues", id: "script-queues" });
  const clearAll = h("button", { type: "button", class: "danger", id: "script-clear-all" }, "Clear every queue");

  const threadOf = () => otherThread.value.trim() || target.value || null;
  // Threads whose queues stay listed: the remembered ones, and any this panel was opened for or
  // queued for (the API lists one queue at a time, so a queue out of sight would be forgotten).
  const watched = new Set([...threads.map((t) => t.id), wanted].filter(Boolean));

  const reply = () => {
    const k = kind.value;
    if (k === "text") return { text: text.value, ...(Number(delay.value) ? { delay_ms: Number(delay.value) } : {}) };
    if (k === "function") {
      let args = {};
      if (fnArgs.value.trim()) {
        try {
          args = JSON.parse(fnArgs.value);
        } catch (e) {
          throw new Error(`The arguments are not valid JSON: ${e.message}`);
        }
      }
      return { tool_calls: [{ type: "function", function: { name: fnName.value.trim(), arguments: args } }] };
    }
    if (k === "file_search") return { tool_calls: [{ type: "file_search", file_search: { query: query.value } }] };
    if (k === "code_interpreter") return { tool_calls: [{ type: "code_interpreter", code_interpreter: { input: code.value } }] };
    return { error: errorMessage.value || "scripted failure", text: errorText.value };
  };

  const queue = async (replies) => {
    const body = { replies };
    const thread = threadOf();
    if (thread) {
      body.thread_id = thread;
      watched.add(thread);
    }
    const r = await post(ENDPOINT, body);
    toast(`Queued ${replies.length} ${replies.length === 1 ? "reply" : "replies"} for ${thread || "any thread"} (${r.queued} waiting).`, "info");
    await refresh();
  };

  const form = h("form", { class: "script-form", id: "script-form" },
    row("Queue for", h("div", { class: "row" }, target, otherThread)),
    row("Kind", kind), fields,
    h("div", { class: "form-actions" }, queueButton));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(queueButton, () => queue([reply()]));
  });
  jsonButton.addEventListener("click", () => busy(jsonButton, async () => {
    let value;
    try {
      value = JSON.parse(json.value);
    } catch (e) {
      throw new Error(`Not valid JSON: ${e.message}`);
    }
    await queue(Array.isArray(value) ? value : value.replies || [value]);
  }));
  clearAll.addEventListener("click", () => busy(clearAll, async () => {
    const r = await del(ENDPOINT);
    toast(`Cleared ${r.cleared} queued ${r.cleared === 1 ? "reply" : "replies"}.`, "info");
    await refresh();
  }));
  target.addEventListener("change", () => refresh().catch(showError));
  otherThread.addEventListener("change", () => refresh().catch(showError));

  async function refresh() {
    const ids = [null, ...new Set([threadOf(), ...watched].filter(Boolean))];
    const lists = await Promise.all(ids.map((id) => get(ENDPOINT, id ? { thread_id: id } : undefined).catch((e) => {
      if (!id) throw e;
      return { replies: [], thread_id: id };
    })));
    const shown = lists.filter((l, i) => i === 0 || l.replies.length || l.thread_id === threadOf());
    clear(queues, shown.map((l) => h("section", { class: "queue", dataset: { thread: l.thread_id || "global" } },
      h("div", { class: "queue-head" },
        h("h3", {}, l.thread_id ? `Thread ${l.thread_id}` : "Global queue"),
        h("span", { class: "badge", "data-role": "count" }, `${l.replies.length} queued`),
        h("button", { type: "button", class: "small", dataset: { role: "clear" }, onclick: (ev) => busy(ev.currentTarget, async () => {
          await api("DELETE", ENDPOINT, { params: l.thread_id ? { thread_id: l.thread_id } : undefined });
          await refresh();
        }) }, "Clear")),
      l.replies.length ? h("ol", { class: "replies" }, l.replies.map((r) => h("li", {}, h("pre", { class: "small" }, pretty(r)))))
        : h("p", { class: "muted small" }, "Empty."))));
  }

  main.append(h("div", { class: "split scripted" },
    h("section", { class: "pane" },
      h("div", { class: "pane-head" }, h("h2", {}, "Scripted model")),
      h("p", { class: "muted" }, "Runs on the model named ", h("code", {}, "scripted"),
        " take the next reply queued for their thread, else the next global one. With nothing queued it echoes ",
        h("code", {}, "You said: …"), " (or fails under --scripted-strict)."),
      form,
      h("details", { class: "raw-json" }, h("summary", {}, "Queue raw JSON (a list of replies)"),
        json, h("div", { class: "form-actions" }, jsonButton))),
    h("section", { class: "pane" },
      h("div", { class: "pane-head" }, h("h2", {}, "Queued"), clearAll,
        h("button", { type: "button", class: "small ghost", title: "Reload", onclick: (ev) => busy(ev.currentTarget, refresh) }, "↻")),
      queues)));
  await refresh();
}

function row(label, control) {
  return h("div", { class: "field" }, h("label", { for: control.id || undefined }, label), control);
}
