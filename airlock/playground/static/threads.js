// Threads: the remembered list, the chat (messages rendered safely, replies streamed token by
// token, citations, images, sandbox downloads, attachments) and the run inspector beside it.

import {
  ApiError, del, downloadFile, events, fileInfo, fileUrl, get, listAll, mergeDelta, post, request,
  STEP_INCLUDE, uploadFile,
} from "./api.js";
import { FILE_SEARCH_EXT, openFile } from "./file-view.js";
import { createInspector } from "./inspector.js";
import { renderText } from "./markdown.js";
import {
  assistants, forgetThread, lastAssistant, rememberedThreads, rememberThread, setLastAssistant, updateThread,
} from "./state.js";
import { busy, clear, h, onEnterSend, shortId, showError, toast, when } from "./ui.js";

export async function mountThreads(main, { id, params }) {
  const threadId = id || "";
  const threadList = h("ul", { class: "list", id: "thread-list" });
  const openInput = h("input", { id: "open-thread-id", placeholder: "thread_…", "aria-label": "Thread id" });
  const openForm = h("form", { class: "open-thread", id: "open-thread" }, openInput,
    h("button", { type: "submit", class: "small" }, "Open"));
  const newButton = h("button", { type: "button", class: "primary", id: "new-thread" }, "+ New thread");
  const chat = h("section", { class: "pane chat", "aria-label": "Chat" });
  const inspectorPane = h("aside", { class: "pane inspector", id: "inspector", "aria-label": "Run inspector" });
  main.append(h("div", { class: "split three" },
    h("aside", { class: "sidebar", "aria-label": "Threads" },
      h("div", { class: "sidebar-head" }, h("h2", {}, "Threads"), newButton),
      openForm,
      h("p", { class: "muted small" }, "The API cannot list threads: this page remembers the ones it made or opened."),
      threadList),
    chat, inspectorPane));

  const drawThreads = () => {
    const remembered = rememberedThreads();
    clear(threadList, remembered.length ? null : h("li", { class: "muted empty-item" }, "No threads yet."),
      remembered.map((t) => h("li", { class: "thread-item" },
        h("a", { href: `#/threads/${encodeURIComponent(t.id)}`, class: t.id === threadId ? "item active" : "item", dataset: { id: t.id } },
          h("span", { class: "item-title" }, t.title || "New thread"),
          h("span", { class: "item-sub" }, `${shortId(t.id)} · ${when(t.created_at)}`)),
        h("button", { type: "button", class: "small ghost item-delete", title: "Delete this thread", "aria-label": `Delete ${t.id}`, onclick: (ev) => busy(ev.currentTarget, async () => {
          if (!confirm(`Delete the thread ${t.id}, its messages and runs?`)) return;
          try {
            await del(`/v1/threads/${encodeURIComponent(t.id)}`);
          } catch (e) {
            if (!(e instanceof ApiError && e.status === 404)) throw e;
          }
          forgetThread(t.id);
          toast("Thread deleted.", "info");
          if (t.id === threadId) location.hash = "#/threads";
          else drawThreads();
        }) }, "×"))));
  };
  drawThreads();

  newButton.addEventListener("click", () => busy(newButton, async () => {
    const thread = await post("/v1/threads", {});
    rememberThread(thread, { assistant_id: select.value || undefined });
    location.hash = `#/threads/${encodeURIComponent(thread.id)}`;
  }));
  openForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(openForm.querySelector("button"), async () => {
      const wanted = openInput.value.trim();
      if (!wanted) return;
      const thread = await get(`/v1/threads/${encodeURIComponent(wanted)}`);
      rememberThread(thread);
      location.hash = `#/threads/${encodeURIComponent(thread.id)}`;
    });
  });

  // --- the chat ---------------------------------------------------------------------------
  const remembered = rememberedThreads().find((t) => t.id === threadId);
  const select = h("select", { id: "chat-assistant", "aria-label": "Assistant" });
  const all = await assistants().catch((e) => {
    showError(e);
    return [];
  });
  const wanted = params.get("assistant") || (remembered && remembered.assistant_id) || lastAssistant();
  const chosen = all.some((a) => a.id === wanted) ? wanted : (all[0] && all[0].id) || "";
  clear(select, all.length ? null : h("option", { value: "" }, "no assistants: create one first"),
    all.map((a) => h("option", { value: a.id, selected: a.id === chosen }, `${a.name || "Untitled"} · ${a.model}`)));
  select.addEventListener("change", () => {
    setLastAssistant(select.value);
    if (threadId) updateThread(threadId, { assistant_id: select.value });
  });
  const names = new Map(all.map((a) => [a.id, a.name || "Assistant"]));

  const messages = h("div", { class: "messages", id: "messages", "aria-live": "polite" });
  const input = h("textarea", {
    id: "composer-input", rows: 3, placeholder: "Message (Enter sends, Shift+Enter adds a line)", "aria-label": "Message",
  });
  const attachInput = h("input", { type: "file", multiple: true, id: "attach-input", class: "file-input" });
  const attachList = h("ul", { class: "chips", id: "attachments" });
  const sendButton = h("button", { type: "button", class: "primary", id: "send" }, "Send");
  const attachments = [];

  clear(chat,
    h("div", { class: "pane-head chat-head" },
      h("div", {}, h("h2", {}, threadId ? "Thread" : "New chat"),
        threadId ? h("span", { class: "mono muted small", id: "thread-id" }, threadId) : null),
      h("label", { class: "inline", for: "chat-assistant" }, "Assistant"), select,
      threadId ? h("a", { class: "small", href: `#/scripted?thread=${encodeURIComponent(threadId)}` }, "Script replies") : null),
    messages,
    h("div", { class: "composer" },
      attachList,
      h("div", { class: "composer-row" },
        h("label", { for: "attach-input", class: "button attach", title: "Attach files to this message" }, "Attach…"), attachInput,
        input, sendButton)));

  const drawAttachments = () => clear(attachList, attachments.map((a, i) => h("li", { class: "chip" },
    a.file.name,
    h("select", { "aria-label": `Tool for ${a.file.name}`, class: "small", onchange: (ev) => {
      a.tool = ev.currentTarget.value;
    } }, ["file_search", "code_interpreter", "both"].map((t) => h("option", { value: t, selected: t === a.tool }, t))),
    h("button", { type: "button", class: "chip-x", "aria-label": "Remove", onclick: () => {
      attachments.splice(i, 1);
      drawAttachments();
    } }, "×"))));
  attachInput.addEventListener("change", () => {
    for (const file of attachInput.files) {
      attachments.push({ file, tool: FILE_SEARCH_EXT.test(file.name) ? "file_search" : "code_interpreter" });
    }
    attachInput.value = "";
    drawAttachments();
  });

  // Clicks on citations, references and sandbox: links inside messages and steps.
  const onClick = (ev) => {
    const a = ev.target.closest("a.cite, a.ref, a.sandbox-link");
    if (!a) return;
    ev.preventDefault();
    const fileId = a.dataset.fileId;
    if (a.classList.contains("sandbox-link")) {
      if (!fileId) {
        toast(`No file was made for ${a.dataset.sandbox}.`);
        return;
      }
      busy(null, async () => toast(`Downloaded ${await downloadFile(fileId, a.dataset.name)}.`, "info"));
    } else {
      openFile(fileId, a.dataset.name);
    }
  };
  messages.addEventListener("click", onClick);

  const inspector = createInspector(inspectorPane, {
    threadId, openFile, loadImage, submitOutputs: (run, outputs) => submitOutputs(run, outputs),
  });

  // --- loading the thread -------------------------------------------------------------------
  const shown = new Map(); // message id -> element
  if (threadId) {
    try {
      const thread = await get(`/v1/threads/${encodeURIComponent(threadId)}`);
      rememberThread(thread);
      drawThreads();
      const list = await listAll(`/v1/threads/${encodeURIComponent(threadId)}/messages`, { order: "asc" });
      clear(messages, list.length ? null : emptyChat());
      for (const m of list) showMessage(m);
      scrollDown();
      inspector.load().catch(showError);
    } catch (e) {
      showError(e);
      clear(messages, h("div", { class: "empty" },
        h("p", { class: "error-text" }, e.message),
        h("button", { type: "button", onclick: () => {
          forgetThread(threadId);
          location.hash = "#/threads";
        } }, "Forget this thread")));
    }
  } else {
    clear(messages, emptyChat());
    inspector.load();
  }

  function emptyChat() {
    return h("div", { class: "empty", id: "chat-empty" },
      h("p", {}, all.length ? "Pick an assistant, write a message, press Enter." : "Create an assistant first."),
      all.length ? null : h("a", { href: "#/assistants/new", class: "button" }, "New assistant"));
  }

  function scrollDown() {
    messages.scrollTop = messages.scrollHeight;
  }

  function showMessage(m, { streaming = false } = {}) {
    const empty = messages.querySelector("#chat-empty");
    if (empty) empty.remove();
    let el = shown.get(m.id);
    if (!el) {
      el = h("article", { class: `msg ${m.role}`, dataset: { id: m.id, deltas: "0" } });
      shown.set(m.id, el);
      messages.append(el);
    }
    drawMessage(el, m, streaming);
    return el;
  }

  function drawMessage(el, m, streaming) {
    el.dataset.status = streaming ? "streaming" : m.status;
    const parts = [];
    const refs = [];
    for (const part of m.content || []) {
      if (part.type === "text") {
        const { html, refs: r } = renderText(part.text.value, part.text.annotations);
        const div = h("div", { class: "md" });
        div.innerHTML = html; // produced by the escaping renderer (markdown.js)
        parts.push(div);
        for (const ref of r) if (!refs.some((x) => x.fileId === ref.fileId)) refs.push({ ...ref, n: refs.length + 1 });
      } else if (part.type === "image_file") {
        const img = h("img", { class: "msg-image", alt: "image from the code", dataset: { fileId: part.image_file.file_id } });
        loadImage(img, part.image_file.file_id);
        parts.push(img);
      } else if (part.type === "image_url") {
        parts.push(h("p", { class: "muted small" }, `image: ${part.image_url.url}`));
      }
    }
    if (streaming && !parts.length) parts.push(h("div", { class: "md typing" }, "…"));
    const who = m.role === "user" ? "You" : names.get(m.assistant_id) || "Assistant";
    clear(el,
      h("header", {}, h("span", { class: "role" }, who), h("span", { class: "muted small" }, when(m.created_at)),
        m.status === "incomplete" ? h("span", { class: "badge incomplete" },
          `incomplete${m.incomplete_details ? `: ${m.incomplete_details.reason}` : ""}`) : null),
      h("div", { class: "msg-body" }, parts),
      refs.length ? h("ol", { class: "refs" }, refs.map((r) => h("li", {},
        h("a", { href: "#", class: "ref", dataset: { fileId: r.fileId, name: r.name } }, `[${r.n}] ${r.name || r.fileId}`)))) : null,
      (m.attachments || []).length ? h("ul", { class: "chips attached" }, m.attachments.map((a) => {
        const chip = h("li", { class: "chip", dataset: { fileId: a.file_id } }, a.file_id);
        fileInfo(a.file_id).then((f) => {
          chip.textContent = `${f.filename} · ${(a.tools || []).map((t) => t.type).join(", ")}`;
        }).catch(() => {});
        return chip;
      })) : null);
    // A cited file's own name, when the marker did not carry it.
    for (const r of refs.filter((x) => !x.name)) {
      fileInfo(r.fileId).then((f) => {
        for (const a of el.querySelectorAll(`a.ref[data-file-id="${CSS.escape(r.fileId)}"]`)) a.textContent = `[${r.n}] ${f.filename}`;
      }).catch(() => {});
    }
  }

  function loadImage(img, fileId) {
    fileUrl(fileId).then((url) => {
      img.src = url;
    }).catch((e) => {
      img.alt = `image ${fileId} could not be loaded: ${e.message}`;
    });
  }

  // --- sending and streaming ----------------------------------------------------------------
  let running = false;

  async function send() {
    if (running) return;
    const text = input.value;
    if (!text.trim() && !attachments.length) return;
    if (!select.value) {
      toast("Pick an assistant first (or create one in Assistants).");
      return;
    }
    running = true;
    sendButton.disabled = true;
    try {
      const attached = [];
      for (const a of attachments) {
        const f = await uploadFile(a.file);
        const tools = a.tool === "both" ? [{ type: "file_search" }, { type: "code_interpreter" }] : [{ type: a.tool }];
        attached.push({ file_id: f.id, tools });
      }
      let tid = threadId;
      if (!tid) {
        const thread = await post("/v1/threads", {});
        tid = thread.id;
        rememberThread(thread, { assistant_id: select.value, title: text.trim().slice(0, 60) });
      }
      const body = { role: "user", content: text.trim() ? text : "(attached files)" };
      if (attached.length) body.attachments = attached;
      const msg = await post(`/v1/threads/${encodeURIComponent(tid)}/messages`, body);
      input.value = "";
      attachments.length = 0;
      drawAttachments();
      const entry = rememberedThreads().find((t) => t.id === tid);
      if (entry && !entry.title) {
        updateThread(tid, { title: text.trim().slice(0, 60) });
        drawThreads();
      }
      updateThread(tid, { assistant_id: select.value });
      setLastAssistant(select.value);
      if (tid !== threadId) {
        // The new thread's own view streams the run: hand it over through the hash.
        sessionStorage.setItem("airlock.pendingRun", JSON.stringify({ thread: tid, assistant: select.value }));
        location.hash = `#/threads/${encodeURIComponent(tid)}`;
        return;
      }
      showMessage(msg);
      scrollDown();
      await streamRun(tid, select.value);
    } catch (e) {
      showError(e);
    } finally {
      running = false;
      sendButton.disabled = false;
    }
  }

  async function streamRun(tid, assistantId) {
    const res = await request("POST", `/v1/threads/${encodeURIComponent(tid)}/runs`, {
      json: { assistant_id: assistantId, stream: true }, params: STEP_INCLUDE, stream: true,
    });
    await consume(res);
  }

  async function submitOutputs(run, outputs) {
    const res = await request("POST",
      `/v1/threads/${encodeURIComponent(run.thread_id)}/runs/${encodeURIComponent(run.id)}/submit_tool_outputs`,
      { json: { tool_outputs: outputs, stream: true }, stream: true });
    running = true;
    sendButton.disabled = true;
    try {
      await consume(res);
    } finally {
      running = false;
      sendButton.disabled = false;
    }
  }

  // Applies a run's events to the chat and the inspector (docs/wire/streaming.md).
  async function consume(res) {
    const started = performance.now();
    const live = new Map(); // message id -> accumulated message
    let runId = null;
    let stats = { deltas: 0, firstToken: null, duration: null };
    let frame = 0;
    const pending = new Set();
    const flush = () => {
      frame = 0;
      for (const id of pending) showMessage(live.get(id), { streaming: true });
      pending.clear();
      scrollDown();
    };
    for await (const { event, data } of events(res)) {
      if (data === "[DONE]") break;
      if (event === "thread.message.created") {
        live.set(data.id, { ...data, content: [] });
        showMessage(live.get(data.id), { streaming: true });
        scrollDown();
      } else if (event === "thread.message.delta") {
        const m = live.get(data.id);
        if (!m) continue;
        mergeDelta(m, data.delta);
        stats.deltas += 1;
        if (stats.firstToken === null) stats.firstToken = performance.now() - started;
        const el = shown.get(data.id);
        if (el) el.dataset.deltas = String(stats.deltas);
        pending.add(data.id);
        if (!frame) frame = requestAnimationFrame(flush);
      } else if (event === "thread.message.completed" || event === "thread.message.incomplete") {
        live.set(data.id, data);
        pending.delete(data.id);
        showMessage(data);
      } else if (event.startsWith("thread.run.step.")) {
        inspector.step(event, data);
      } else if (event.startsWith("thread.run.")) {
        runId = data.id;
        inspector.update(data);
        if (event === "thread.run.requires_action") {
          toast("The run called a function: answer it in the run inspector.", "info");
        }
      } else if (event === "error") {
        const err = (data && data.error) || {};
        showError(new ApiError(0, `The run failed: ${err.message || "unknown error"}`, err));
      }
    }
    if (frame) {
      cancelAnimationFrame(frame);
      flush();
    }
    stats = { ...stats, duration: performance.now() - started };
    if (runId) inspector.stats(runId, stats);
    // The store is the truth: reload runs and steps once the stream ended.
    await inspector.load().catch(showError);
    if (runId && inspector.runs.has(runId)) inspector.stats(runId, stats);
  }

  onEnterSend(input, send);
  sendButton.addEventListener("click", send);
  input.focus();

  const pendingRun = JSON.parse(sessionStorage.getItem("airlock.pendingRun") || "null");
  if (pendingRun && pendingRun.thread === threadId) {
    sessionStorage.removeItem("airlock.pendingRun");
    running = true;
    sendButton.disabled = true;
    streamRun(threadId, pendingRun.assistant).catch(showError).finally(() => {
      running = false;
      sendButton.disabled = false;
    });
  }

  return () => {
    messages.removeEventListener("click", onClick);
  };
}
