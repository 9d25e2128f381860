// Responses: a chat on POST /v1/responses, streamed, each turn chained to the one before by
// previous_response_id, with file_search over a vector store and code_interpreter in a container,
// and the last response's raw events in the inspector beside it. The page remembers the chain's
// last response id and the settings (ids only, never text): the server holds the turns, and the
// chain is read back from it (previous_response_id and input_items) when the tab opens again.

import { ApiError, downloadPath, events, get, listAll, request } from "./api.js";
import { openFile } from "./file-view.js";
import { applyEvent, createAccumulator, TERMINAL } from "./response-events.js";
import { createResponseInspector } from "./response-inspector.js";
import { createTurn } from "./response-items.js";
import { models } from "./state.js";
import { busy, clear, h, onEnterSend, showError, toast } from "./ui.js";

const KEY = "airlock.responses";
// Without these, a stored response keeps no search results and no code logs.
const INCLUDE = ["file_search_call.results", "code_interpreter_call.outputs"];
const MAX_TURNS = 50; // how far back a remembered chain is read again
const CHAINABLE = new Set(["completed", "incomplete"]);

function remembered() {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) || "{}");
    return value && typeof value === "object" && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

function remember(patch) {
  localStorage.setItem(KEY, JSON.stringify({ ...remembered(), ...patch }));
}

export async function mountResponses(main) {
  const prefs = remembered();
  const modelSelect = h("select", { id: "r-model" });
  const instructions = h("textarea", { id: "r-instructions", rows: 3, placeholder: "Optional; sent with every turn" });
  const fsCheck = h("input", { type: "checkbox", id: "r-file-search", checked: prefs.fileSearch });
  const storeSelect = h("select", { id: "r-vector-store", "aria-label": "Vector store" });
  const ciCheck = h("input", { type: "checkbox", id: "r-code-interpreter", checked: prefs.codeInterpreter });
  const containerSelect = h("select", { id: "r-container", "aria-label": "Container" });
  const fsPanel = h("div", { class: "tool-panel", hidden: !fsCheck.checked }, storeSelect);
  const ciPanel = h("div", { class: "tool-panel", hidden: !ciCheck.checked }, containerSelect);
  const reloadTools = h("button", { type: "button", class: "small ghost", id: "r-reload-tools", title: "Reload vector stores and containers" }, "↻");
  const newChat = h("button", { type: "button", class: "primary", id: "r-new-chat" }, "+ New chat");
  const openInput = h("input", { id: "r-open-id", placeholder: "resp_…", "aria-label": "Response id" });
  const openForm = h("form", { class: "open-thread", id: "r-open" }, openInput, h("button", { type: "submit", class: "small" }, "Open"));
  const turns = h("div", { class: "messages", id: "r-turns", "aria-live": "polite" });
  const input = h("textarea", { id: "r-input", rows: 3, placeholder: "Input (Enter sends, Shift+Enter adds a line)", "aria-label": "Input" });
  const sendButton = h("button", { type: "button", class: "primary", id: "r-send" }, "Send");
  const chainNote = h("span", { class: "mono muted small", id: "r-chain" });
  const inspectorPane = h("aside", { class: "pane inspector", id: "response-inspector", "aria-label": "Response inspector" });
  main.append(h("div", { class: "split three" },
    h("aside", { class: "sidebar", "aria-label": "Response settings" },
      h("div", { class: "sidebar-head" }, h("h2", {}, "Responses"), newChat),
      field("Model", modelSelect),
      field("Instructions", instructions),
      h("fieldset", { class: "tools" }, h("legend", {}, "Tools ", reloadTools),
        h("label", { class: "check" }, fsCheck, " File search"), fsPanel,
        h("label", { class: "check" }, ciCheck, " Code interpreter"), ciPanel),
      h("p", { class: "muted small" }, "Continue the chain of a response made elsewhere:"),
      openForm),
    h("section", { class: "pane chat", "aria-label": "Chat" },
      h("div", { class: "pane-head chat-head" }, h("div", {}, h("h2", {}, "Chat"), chainNote)),
      turns,
      h("div", { class: "composer" }, h("div", { class: "composer-row" }, input, sendButton))),
    inspectorPane));
  const inspector = createResponseInspector(inspectorPane);

  // --- settings -----------------------------------------------------------------------------
  const served = await models().catch((e) => {
    showError(e);
    return [];
  });
  const model = served.includes(prefs.model) ? prefs.model : served[0] || "scripted";
  clear(modelSelect, (served.length ? served : [model]).map((m, i) => h("option", { value: m, selected: m === model },
    i === 0 && served.length ? `${m} (default)` : m)));
  modelSelect.addEventListener("change", () => remember({ model: modelSelect.value }));
  fsCheck.addEventListener("change", () => {
    fsPanel.hidden = !fsCheck.checked;
    remember({ fileSearch: fsCheck.checked });
  });
  ciCheck.addEventListener("change", () => {
    ciPanel.hidden = !ciCheck.checked;
    remember({ codeInterpreter: ciCheck.checked });
  });
  storeSelect.addEventListener("change", () => remember({ store: storeSelect.value }));
  containerSelect.addEventListener("change", () => remember({ container: containerSelect.value }));

  async function fillTools() {
    const [stores, containers] = await Promise.all([
      listAll("/v1/vector_stores").catch(reported),
      listAll("/v1/containers").catch(reported),
    ]);
    const store = storeSelect.value || remembered().store || "";
    clear(storeSelect, h("option", { value: "" }, stores.length ? "— pick a vector store —" : "no vector stores: make one in Assistants"),
      stores.map((s) => h("option", { value: s.id, selected: s.id === store },
        `${s.name || "unnamed"} · ${s.file_counts.completed} files`)));
    const chosen = containerSelect.value || remembered().container || "auto";
    clear(containerSelect, h("option", { value: "auto", selected: chosen === "auto" }, "auto: a new container"),
      containers.map((c) => h("option", { value: c.id, selected: c.id === chosen, disabled: c.status === "expired" },
        `${c.name || "container"} · ${c.id} · ${c.status}`)));
  }
  reloadTools.addEventListener("click", () => busy(reloadTools, fillTools));
  await fillTools();

  // The request's tools, or null (and a toast) when a choice is missing.
  function chosenTools() {
    const tools = [];
    if (fsCheck.checked) {
      if (!storeSelect.value) {
        toast("Pick a vector store for file_search, or untick it.");
        storeSelect.focus();
        return null;
      }
      tools.push({ type: "file_search", vector_store_ids: [storeSelect.value] });
    }
    if (ciCheck.checked) {
      tools.push({ type: "code_interpreter", container: containerSelect.value === "auto" ? { type: "auto" } : containerSelect.value });
    }
    return tools;
  }

  // --- the chain ----------------------------------------------------------------------------
  let last = ""; // the response the next turn continues

  function setLast(id) {
    last = id || "";
    remember({ last });
    chainNote.textContent = last ? `continues ${last}` : "a new chain";
  }

  function emptyChat() {
    return h("div", { class: "empty", id: "r-empty" },
      h("p", {}, "Write an input and press Enter: the reply streams in."),
      h("p", { class: "small" }, "Each turn continues the one before it (previous_response_id); “New chat” starts over."));
  }

  function scrollDown() {
    turns.scrollTop = turns.scrollHeight;
  }

  function addTurn(text) {
    const empty = turns.querySelector("#r-empty");
    if (empty) empty.remove();
    const turn = createTurn(text);
    turns.append(turn.el);
    scrollDown();
    return turn;
  }

  // Reads the chain ending at `id` back from the server, then shows it (all or nothing).
  async function loadChain(id) {
    const chain = [];
    let at = id;
    while (at && chain.length < MAX_TURNS) {
      const r = await get(`/v1/responses/${encodeURIComponent(at)}`);
      chain.unshift(r);
      at = r.previous_response_id;
    }
    const inputs = await Promise.all(chain.map((r) => listAll(
      `/v1/responses/${encodeURIComponent(r.id)}/input_items`, { order: "asc" }, 100)));
    clear(turns, at ? h("p", { class: "muted small", id: "r-earlier" }, `Earlier turns (up to ${at}) are not shown.`) : null);
    chain.forEach((r, i) => {
      const turn = addTurn(inputText(inputs[i]));
      turn.response(r);
      turn.items(r.output);
    });
    inspector.show(chain[chain.length - 1], null);
    inspector.empty();
    setLast(id);
    scrollDown();
  }

  newChat.addEventListener("click", () => {
    setLast("");
    clear(turns, emptyChat());
    inspector.show(null);
    inspector.empty();
    input.focus();
  });
  openForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const wanted = openInput.value.trim();
    if (!wanted) return;
    busy(openForm.querySelector("button"), async () => {
      await loadChain(wanted);
      openInput.value = "";
    });
  });

  // --- sending and streaming ----------------------------------------------------------------
  let running = false;

  async function send() {
    if (running) return;
    const text = input.value;
    if (!text.trim()) return;
    const tools = chosenTools();
    if (!tools) return;
    const body = { model: modelSelect.value, input: text, stream: true, include: INCLUDE };
    if (instructions.value.trim()) body.instructions = instructions.value;
    if (tools.length) body.tools = tools;
    if (last) body.previous_response_id = last;
    running = true;
    sendButton.disabled = true;
    const turn = addTurn(text);
    inspector.reset();
    try {
      let res;
      try {
        res = await request("POST", "/v1/responses", { json: body, stream: true });
      } catch (e) {
        // Refused before it began (a 400, say): the input stays to be fixed and sent again.
        turn.el.remove();
        if (!turns.querySelector(".turn")) clear(turns, emptyChat());
        inspector.show(null);
        inspector.empty();
        throw e;
      }
      input.value = "";
      await consume(res, turn);
      if (ciCheck.checked) await fillTools(); // an auto container joins the list
    } catch (e) {
      showError(e);
    } finally {
      running = false;
      sendButton.disabled = false;
    }
  }

  // Applies the stream's events to the turn (text drawn once per frame) and the inspector.
  async function consume(res, turn) {
    const acc = createAccumulator();
    const started = performance.now();
    const stats = { deltas: 0, firstToken: null, duration: null };
    let ended = false;
    let frame = 0;
    const pending = new Set();
    const flush = () => {
      frame = 0;
      for (const i of pending) turn.item(i, acc.output[i]);
      pending.clear();
      scrollDown();
    };
    for await (const { event, data, raw } of events(res)) {
      inspector.event(data === "[DONE]" ? "[DONE]" : event, data, raw);
      if (data === "[DONE]") break;
      if (event === "error") {
        const err = (data && data.error) || data || {};
        showError(new ApiError(0, `The response failed: ${err.message || "unknown error"}`, err));
        continue;
      }
      const type = data.type || event;
      const changed = applyEvent(acc, type, data);
      if (changed === "response") {
        turn.response(acc.response);
        if (TERMINAL.has(type)) {
          ended = true;
          pending.clear();
          turn.items(acc.output);
        }
      } else if (changed !== null && type === "response.output_text.delta") {
        stats.deltas += 1;
        if (stats.firstToken === null) stats.firstToken = performance.now() - started;
        turn.el.dataset.deltas = String(stats.deltas);
        pending.add(changed);
        if (!frame) frame = requestAnimationFrame(flush);
      } else if (changed !== null) {
        pending.delete(changed);
        turn.item(changed, acc.output[changed]);
      }
    }
    if (frame) cancelAnimationFrame(frame);
    flush();
    stats.duration = performance.now() - started;
    let r = acc.response;
    if (r && !ended) {
      // The stream stopped short of its end: the stored response is the truth.
      r = await get(`/v1/responses/${encodeURIComponent(r.id)}`);
      turn.response(r);
      turn.items(r.output);
    }
    inspector.show(r, stats);
    if (r && CHAINABLE.has(r.status)) setLast(r.id);
    scrollDown();
  }

  // Citations and search results open the file; container files download with the API key.
  const onClick = (ev) => {
    const a = ev.target.closest("a.cite, a.ref, a.result-file, a.container-file, a.sandbox-link");
    if (!a) return;
    ev.preventDefault();
    if (a.classList.contains("container-file")) {
      busy(null, async () => toast(`Downloaded ${await downloadPath(a.getAttribute("href"), a.dataset.name)}.`, "info"));
    } else if (a.classList.contains("sandbox-link")) {
      toast(`No container file answers ${a.dataset.sandbox}.`);
    } else {
      openFile(a.dataset.fileId, a.dataset.name);
    }
  };
  turns.addEventListener("click", onClick);
  onEnterSend(input, send);
  sendButton.addEventListener("click", send);

  setLast(prefs.last);
  if (last) {
    try {
      await loadChain(last);
    } catch (e) {
      showError(e);
      if (e instanceof ApiError && e.status === 404) setLast("");
      clear(turns, emptyChat());
    }
  } else {
    clear(turns, emptyChat());
  }
  input.focus();

  return () => turns.removeEventListener("click", onClick);
}

function reported(e) {
  showError(e);
  return [];
}

function field(label, control) {
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control);
}

// What the user sent in a turn, from its input items (a message's text; other items by type).
function inputText(items) {
  return items.map((item) => {
    if (item.type === "message" || item.role) {
      if (typeof item.content === "string") return item.content;
      return (item.content || []).map((p) => (typeof p.text === "string" ? p.text : `[${p.type}]`)).join("\n");
    }
    return `[${item.type}]`;
  }).join("\n");
}
