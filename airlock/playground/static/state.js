// What the page remembers. The Assistants API cannot list threads, so the threads this page
// made or opened are kept in localStorage (which is per server origin).

import { get, listAll } from "./api.js";

const THREADS = "airlock.threads";
const LAST_ASSISTANT = "airlock.lastAssistant";

export function rememberedThreads() {
  try {
    const list = JSON.parse(localStorage.getItem(THREADS) || "[]");
    return Array.isArray(list) ? list.filter((t) => t && typeof t.id === "string") : [];
  } catch {
    return [];
  }
}

function saveThreads(list) {
  localStorage.setItem(THREADS, JSON.stringify(list.slice(0, 200)));
}

export function rememberThread(thread, extra = {}) {
  const list = rememberedThreads();
  const at = list.findIndex((t) => t.id === thread.id);
  const entry = { ...(at >= 0 ? list[at] : {}), id: thread.id, created_at: thread.created_at, ...extra };
  if (at >= 0) list.splice(at, 1);
  list.unshift(entry);
  saveThreads(list);
  return entry;
}

export function updateThread(id, extra) {
  const list = rememberedThreads();
  const entry = list.find((t) => t.id === id);
  if (entry) {
    Object.assign(entry, extra);
    saveThreads(list);
  }
}

export function forgetThread(id) {
  saveThreads(rememberedThreads().filter((t) => t.id !== id));
}

export function lastAssistant() {
  return localStorage.getItem(LAST_ASSISTANT) || "";
}

export function setLastAssistant(id) {
  if (id) localStorage.setItem(LAST_ASSISTANT, id);
}

let modelsPromise = null;

// The served model names, the default first (GET /v1/models lists it first).
export function models() {
  if (!modelsPromise) {
    modelsPromise = get("/v1/models").then((r) => r.data.map((m) => m.id));
    modelsPromise.catch(() => {
      modelsPromise = null;
    });
  }
  return modelsPromise;
}

export function assistants() {
  return listAll("/v1/assistants", { order: "desc" });
}
