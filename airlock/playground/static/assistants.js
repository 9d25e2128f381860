// Assistants: list, create, edit, delete; model, sampling, response format, and tools
// (file_search with a vector store, code_interpreter with files, functions as JSON).

import { del, fileInfo, get, listAll, post, uploadFile } from "./api.js";
import { assistants, models, setLastAssistant } from "./state.js";
import { busy, clear, h, modal, pretty, shortId, showError, toast, when } from "./ui.js";

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export const FUNCTION_EXAMPLE = {
  name: "get_weather",
  description: "Current weather in a city.",
  parameters: {
    type: "object",
    properties: {
      city: { type: "string", description: "City name, e.g. Paris" },
      unit: { type: "string", enum: ["celsius", "fahrenheit"] },
    },
    required: ["city"],
  },
};

const SCHEMA_EXAMPLE = {
  name: "answer",
  schema: {
    type: "object",
    properties: { answer: { type: "string" }, confidence: { type: "number" } },
    required: ["answer", "confidence"],
    additionalProperties: false,
  },
  strict: true,
};

// Checks a function definition typed by the user; returns {fn} or {error}.
export function checkFunction(text, otherNames = []) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `Not valid JSON: ${e.message}` };
  }
  if (value && value.type === "function" && value.function) value = value.function;
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    return { error: "A function is a JSON object with a name and parameters." };
  }
  if (typeof value.name !== "string" || !NAME.test(value.name)) {
    return { error: "\"name\" must be 1–64 letters, digits, _ or -." };
  }
  if (otherNames.includes(value.name)) return { error: `Another function is already named "${value.name}".` };
  if (value.description !== undefined && typeof value.description !== "string") {
    return { error: "\"description\" must be a string." };
  }
  if (value.parameters !== undefined) {
    const p = value.parameters;
    if (!p || typeof p !== "object" || Array.isArray(p)) return { error: "\"parameters\" must be a JSON Schema object." };
    if (p.type !== undefined && p.type !== "object") return { error: "\"parameters.type\" must be \"object\"." };
    if (p.properties !== undefined && (typeof p.properties !== "object" || Array.isArray(p.properties))) {
      return { error: "\"parameters.properties\" must be an object." };
    }
    if (p.required !== undefined && !Array.isArray(p.required)) {
      return { error: "\"parameters.required\" must be a list of property names." };
    }
  }
  if (value.strict !== undefined && typeof value.strict !== "boolean") return { error: "\"strict\" must be true or false." };
  const allowed = new Set(["name", "description", "parameters", "strict"]);
  const extra = Object.keys(value).filter((k) => !allowed.has(k));
  if (extra.length) return { error: `Unknown key: ${extra.join(", ")}.` };
  return { fn: value };
}

export async function mountAssistants(main, { id }) {
  const list = h("ul", { class: "list", id: "assistant-list" });
  const newButton = h("button", { type: "button", class: "primary", id: "new-assistant" }, "+ New assistant");
  const editorPane = h("section", { class: "pane editor-pane", "aria-label": "Assistant" });
  main.append(h("div", { class: "split" },
    h("aside", { class: "sidebar", "aria-label": "Assistants" },
      h("div", { class: "sidebar-head" }, h("h2", {}, "Assistants"), newButton), list),
    editorPane));
  newButton.addEventListener("click", () => {
    location.hash = "#/assistants/new";
  });

  const timers = new Set();
  let all = [];
  try {
    all = await assistants();
  } catch (e) {
    showError(e);
  }
  clear(list, all.length ? null : h("li", { class: "muted empty-item" }, "No assistants yet."),
    all.map((a) => h("li", {},
      h("a", { href: `#/assistants/${encodeURIComponent(a.id)}`, class: a.id === id ? "item active" : "item", dataset: { id: a.id } },
        h("span", { class: "item-title" }, a.name || "Untitled assistant"),
        h("span", { class: "item-sub" }, `${a.model} · ${shortId(a.id)}`)))));

  let current = null;
  if (id && id !== "new") {
    current = all.find((a) => a.id === id) || await get(`/v1/assistants/${encodeURIComponent(id)}`);
  } else if (!id && all.length) {
    current = all[0];
  }
  await renderEditor(editorPane, current, timers);
  return () => {
    for (const t of timers) clearInterval(t);
  };
}

async function renderEditor(pane, assistant, timers) {
  const served = await models().catch((e) => {
    showError(e);
    return [];
  });
  const a = assistant || { name: "", instructions: "", model: served[0] || "scripted", tools: [], tool_resources: {} };
  const tr = a.tool_resources || {};
  const state = {
    functions: a.tools.filter((t) => t.type === "function").map((t) => t.function),
    codeFiles: [...((tr.code_interpreter && tr.code_interpreter.file_ids) || [])],
    store: ((tr.file_search && tr.file_search.vector_store_ids) || [])[0] || "",
  };

  const name = h("input", { id: "a-name", value: a.name || "", placeholder: "e.g. Math tutor", maxlength: 256 });
  const instructions = h("textarea", { id: "a-instructions", rows: 5, placeholder: "You are a helpful assistant." });
  instructions.value = a.instructions || "";
  const modelSelect = h("select", { id: "a-model" });
  const names = served.includes(a.model) ? served : [...served, a.model];
  for (const [i, m] of names.entries()) {
    let label = m;
    if (i === 0 && served.length) label += " (default)";
    if (!served.includes(m)) label += " (runs on the default model)";
    modelSelect.append(h("option", { value: m, selected: m === a.model }, label));
  }
  const temperature = slider("a-temperature", a.temperature ?? 1, 0, 2, 0.01);
  const topP = slider("a-top-p", a.top_p ?? 1, 0, 1, 0.01);

  const rf = a.response_format && typeof a.response_format === "object" ? a.response_format : { type: "auto" };
  const formatSelect = h("select", { id: "a-format" },
    ["auto", "text", "json_object", "json_schema"].map((t) => h("option", { value: t, selected: rf.type === t }, t)));
  const schemaText = h("textarea", { id: "a-schema", rows: 8, class: "mono", spellcheck: "false" });
  schemaText.value = pretty(rf.json_schema || SCHEMA_EXAMPLE);
  const schemaError = h("p", { class: "field-error", "aria-live": "polite" });
  const schemaRow = h("div", { class: "field", hidden: rf.type !== "json_schema" },
    h("label", { for: "a-schema" }, "JSON schema (name, schema, strict)"), schemaText, schemaError);
  formatSelect.addEventListener("change", () => {
    schemaRow.hidden = formatSelect.value !== "json_schema";
  });

  const has = (type) => a.tools.some((t) => t.type === type);
  const fsCheck = h("input", { type: "checkbox", id: "tool-file-search", checked: has("file_search") });
  const ciCheck = h("input", { type: "checkbox", id: "tool-code-interpreter", checked: has("code_interpreter") });
  const fsPanel = h("div", { class: "tool-panel", id: "file-search-panel", hidden: !fsCheck.checked });
  const ciPanel = h("div", { class: "tool-panel", id: "code-panel", hidden: !ciCheck.checked });
  fsCheck.addEventListener("change", () => {
    fsPanel.hidden = !fsCheck.checked;
  });
  ciCheck.addEventListener("change", () => {
    ciPanel.hidden = !ciCheck.checked;
  });
  const functionList = h("ul", { class: "function-list", id: "function-list" });

  const drawFunctions = () => clear(functionList,
    state.functions.length ? null : h("li", { class: "muted" }, "No functions."),
    state.functions.map((fn, i) => h("li", { class: "function-item", dataset: { name: fn.name } },
      h("div", {}, h("code", {}, fn.name), fn.description ? h("span", { class: "muted" }, ` — ${fn.description}`) : null),
      h("div", { class: "row-actions" },
        h("button", { type: "button", class: "small", onclick: () => editFunction(i) }, "Edit"),
        h("button", { type: "button", class: "small danger", onclick: () => {
          state.functions.splice(i, 1);
          drawFunctions();
        } }, "Remove")))));

  const editFunction = (index) => {
    const existing = index === undefined ? null : state.functions[index];
    const others = state.functions.filter((_, i) => i !== index).map((f) => f.name);
    const text = h("textarea", { id: "function-json", rows: 16, class: "mono", spellcheck: "false" });
    text.value = existing ? pretty(existing) : "";
    const message = h("p", { class: "field-error", id: "function-error", "aria-live": "polite" });
    const save = h("button", { type: "button", class: "primary", id: "function-save" }, existing ? "Save function" : "Add function");
    const validate = () => {
      if (!text.value.trim()) {
        message.textContent = "Write the function as JSON, or insert the example.";
        message.className = "field-hint";
        save.disabled = true;
        return null;
      }
      const { fn, error } = checkFunction(text.value, others);
      message.textContent = error || "Valid function.";
      message.className = error ? "field-error" : "field-ok";
      save.disabled = Boolean(error);
      return fn || null;
    };
    text.addEventListener("input", validate);
    const example = h("button", { type: "button", id: "function-example" }, "Insert example");
    example.addEventListener("click", () => {
      text.value = pretty(FUNCTION_EXAMPLE);
      validate();
    });
    const { close } = modal(existing ? `Edit ${existing.name}` : "Add a function",
      h("div", { class: "field" },
        h("label", { for: "function-json" }, "Function definition: name, description, parameters (JSON Schema), strict"),
        text, message),
      { actions: [example, save], wide: true });
    save.addEventListener("click", () => {
      const fn = validate();
      if (!fn) return;
      if (existing) state.functions[index] = fn;
      else state.functions.push(fn);
      drawFunctions();
      close();
    });
    validate();
    text.focus();
  };
  drawFunctions();

  const storePanel = await vectorStorePanel(state, timers, () => name.value);
  fsPanel.append(storePanel);
  ciPanel.append(codeFilesPanel(state));

  const saveButton = h("button", { type: "submit", class: "primary", id: "assistant-save" }, assistant ? "Save" : "Create assistant");
  const form = h("form", { class: "editor", id: "assistant-form" },
    h("div", { class: "editor-head" },
      h("h2", {}, assistant ? (assistant.name || "Untitled assistant") : "New assistant"),
      assistant ? h("span", { class: "muted mono", id: "assistant-id" }, assistant.id) : null),
    field("Name", name),
    field("Instructions", instructions),
    h("div", { class: "grid2" }, field("Model", modelSelect), field("Response format", formatSelect)),
    schemaRow,
    h("div", { class: "grid2" }, field("Temperature", temperature.el), field("Top P", topP.el)),
    h("fieldset", { class: "tools" }, h("legend", {}, "Tools"),
      h("label", { class: "check" }, fsCheck, " File search"), fsPanel,
      h("label", { class: "check" }, ciCheck, " Code interpreter"), ciPanel,
      h("div", { class: "functions" },
        h("div", { class: "functions-head" }, h("strong", {}, "Functions"),
          h("button", { type: "button", class: "small", id: "add-function", onclick: () => editFunction() }, "+ Function")),
        functionList)),
    h("div", { class: "form-actions" },
      saveButton,
      assistant ? h("button", { type: "button", id: "assistant-chat", onclick: () => {
        setLastAssistant(assistant.id);
        location.hash = `#/threads?assistant=${encodeURIComponent(assistant.id)}`;
      } }, "Chat with it") : null,
      assistant ? h("button", { type: "button", class: "danger", id: "assistant-delete", onclick: (ev) => busy(ev.currentTarget, async () => {
        if (!confirm(`Delete the assistant ${assistant.name || assistant.id}?`)) return;
        await del(`/v1/assistants/${encodeURIComponent(assistant.id)}`);
        toast("Assistant deleted.", "info");
        location.hash = "#/assistants";
      }) }, "Delete") : null),
    assistant ? h("p", { class: "muted small" }, `Created ${when(assistant.created_at)}`) : null);

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(saveButton, async () => {
      const body = {
        name: name.value.trim() || null,
        instructions: instructions.value || null,
        model: modelSelect.value,
        tools: [
          ...(fsCheck.checked ? [{ type: "file_search" }] : []),
          ...(ciCheck.checked ? [{ type: "code_interpreter" }] : []),
          ...state.functions.map((fn) => ({ type: "function", function: fn })),
        ],
        tool_resources: {
          code_interpreter: { file_ids: ciCheck.checked ? state.codeFiles : [] },
          file_search: { vector_store_ids: fsCheck.checked && state.store ? [state.store] : [] },
        },
      };
      if (temperature.dirty()) body.temperature = temperature.value();
      if (topP.dirty()) body.top_p = topP.value();
      if (formatSelect.value === "json_schema") {
        let schema;
        try {
          schema = JSON.parse(schemaText.value);
        } catch (e) {
          schemaError.textContent = `Not valid JSON: ${e.message}`;
          throw new Error("The response format's JSON schema is not valid JSON.");
        }
        schemaError.textContent = "";
        body.response_format = { type: "json_schema", json_schema: schema };
      } else if (formatSelect.value === "auto") {
        body.response_format = "auto";
      } else {
        body.response_format = { type: formatSelect.value };
      }
      const saved = assistant
        ? await post(`/v1/assistants/${encodeURIComponent(assistant.id)}`, body)
        : await post("/v1/assistants", body);
      toast(assistant ? "Assistant saved." : "Assistant created.", "info");
      setLastAssistant(saved.id);
      const target = `#/assistants/${encodeURIComponent(saved.id)}`;
      if (location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
      else location.hash = target;
    });
  });
  clear(pane, form);
}

function field(label, control) {
  const id = control.id || (control.querySelector && control.querySelector("input") && control.querySelector("input").id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

// A range and a number input kept together; dirty once the user moved either.
function slider(id, value, min, max, step) {
  let dirty = false;
  const range = h("input", { type: "range", id, min, max, step, value });
  const number = h("input", { type: "number", min, max, step, value, class: "num", "aria-label": `${id} value` });
  range.addEventListener("input", () => {
    number.value = range.value;
    dirty = true;
  });
  number.addEventListener("input", () => {
    range.value = number.value;
    dirty = true;
  });
  return {
    el: h("div", { class: "slider" }, range, number),
    dirty: () => dirty,
    value: () => Number(number.value),
  };
}

// file_search: pick or create the vector store, upload files, watch their ingestion.
async function vectorStorePanel(state, timers, assistantName) {
  const select = h("select", { id: "vs-select" });
  const files = h("table", { class: "files", id: "vs-files" });
  const counts = h("p", { class: "muted small", id: "vs-counts" });
  const upload = h("input", { type: "file", multiple: true, id: "vs-upload", class: "file-input" });
  const createButton = h("button", { type: "button", class: "small", id: "vs-create" }, "New vector store");
  let timer = null;

  const stores = await listAll("/v1/vector_stores").catch((e) => {
    showError(e);
    return [];
  });
  const fill = () => {
    clear(select, h("option", { value: "" }, "— no vector store —"),
      stores.map((s) => h("option", { value: s.id, selected: s.id === state.store }, `${s.name || "unnamed"} (${s.id})`)));
    if (state.store && !stores.some((s) => s.id === state.store)) {
      select.append(h("option", { value: state.store, selected: true }, state.store));
    }
  };
  fill();

  const refresh = async () => {
    if (!state.store) {
      clear(files);
      counts.textContent = "Pick a vector store or create one, then upload files.";
      return;
    }
    const [store, rows] = await Promise.all([
      get(`/v1/vector_stores/${encodeURIComponent(state.store)}`),
      listAll(`/v1/vector_stores/${encodeURIComponent(state.store)}/files`, { order: "asc" }),
    ]);
    const c = store.file_counts;
    counts.textContent = `${store.name || store.id}: ${c.completed} ready, ${c.in_progress} ingesting, ${c.failed} failed`
      + (c.cancelled ? `, ${c.cancelled} cancelled` : "") + ` · ${store.usage_bytes} bytes of text · ${store.status}`;
    const infos = await Promise.all(rows.map((r) => fileInfo(r.id).catch(() => null)));
    clear(files,
      h("thead", {}, h("tr", {}, h("th", {}, "File"), h("th", {}, "Status"), h("th", {}, "Text"), h("th", {}, ""))),
      h("tbody", {}, rows.map((r, i) => h("tr", { dataset: { fileId: r.id, status: r.status } },
        h("td", {}, (infos[i] && infos[i].filename) || r.id),
        h("td", {}, h("span", { class: `badge ${r.status}` }, r.status === "in_progress" ? "ingesting…" : r.status),
          r.last_error ? h("div", { class: "error-text small" }, `${r.last_error.code}: ${r.last_error.message}`) : null),
        h("td", { class: "muted" }, r.usage_bytes ? `${r.usage_bytes} B` : ""),
        h("td", {}, h("button", { type: "button", class: "small ghost", title: "Remove from the store", onclick: (ev) => busy(ev.currentTarget, async () => {
          await del(`/v1/vector_stores/${encodeURIComponent(state.store)}/files/${encodeURIComponent(r.id)}`);
          await refresh();
        }) }, "×"))))));
    const ingesting = rows.some((r) => r.status === "in_progress");
    if (ingesting && !timer) {
      timer = setInterval(() => refresh().catch(showError), 1000);
      timers.add(timer);
    } else if (!ingesting && timer) {
      clearInterval(timer);
      timers.delete(timer);
      timer = null;
    }
  };

  select.addEventListener("change", () => {
    state.store = select.value;
    refresh().catch(showError);
  });
  const createStore = async (name) => {
    const store = await post("/v1/vector_stores", { name });
    stores.unshift(store);
    state.store = store.id;
    fill();
    return store;
  };
  createButton.addEventListener("click", () => busy(createButton, async () => {
    const name = prompt("Name of the new vector store", `${assistantName() || "Assistant"} files`);
    if (name === null) return;
    await createStore(name);
    await refresh();
  }));
  upload.addEventListener("change", () => busy(upload, async () => {
    const chosen = [...upload.files];
    upload.value = "";
    if (!chosen.length) return;
    if (!state.store) await createStore(`${assistantName() || "Assistant"} files`);
    for (const file of chosen) {
      const uploaded = await uploadFile(file);
      await post(`/v1/vector_stores/${encodeURIComponent(state.store)}/files`, { file_id: uploaded.id });
    }
    await refresh();
  }));
  refresh().catch(showError);
  return h("div", {},
    h("div", { class: "row" }, h("label", { for: "vs-select", class: "inline" }, "Vector store"), select, createButton),
    h("div", { class: "row" }, h("label", { for: "vs-upload", class: "button small" }, "Upload files…"), upload, counts),
    files);
}

// code_interpreter: files placed in /mnt/data for every thread of this assistant.
function codeFilesPanel(state) {
  const list = h("ul", { class: "chips", id: "code-files" });
  const upload = h("input", { type: "file", multiple: true, id: "code-upload", class: "file-input" });
  const draw = async () => {
    const infos = await Promise.all(state.codeFiles.map((id) => fileInfo(id).catch(() => null)));
    clear(list, state.codeFiles.length ? null : h("li", { class: "muted" }, "No files."),
      state.codeFiles.map((id, i) => h("li", { class: "chip", dataset: { fileId: id } },
        (infos[i] && infos[i].filename) || id,
        h("button", { type: "button", class: "chip-x", "aria-label": "Remove", onclick: () => {
          state.codeFiles.splice(i, 1);
          draw().catch(showError);
        } }, "×"))));
  };
  upload.addEventListener("change", () => busy(upload, async () => {
    const chosen = [...upload.files];
    upload.value = "";
    for (const file of chosen) state.codeFiles.push((await uploadFile(file)).id);
    await draw();
  }));
  draw().catch(showError);
  return h("div", {},
    h("div", { class: "row" }, h("label", { for: "code-upload", class: "button small" }, "Attach files…"), upload,
      h("span", { class: "muted small" }, "placed in /mnt/data for the code")),
    list);
}
