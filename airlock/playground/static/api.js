// The API client of the Playground: every call goes to this page's own origin, with the API key
// the tab holds (sessionStorage) when the server asks for one. Errors become ApiError with the
// server's own message (docs/wire/errors.md).

import { askForKey } from "./ui.js";

const KEY = "airlock.apiKey";
const INCLUDE_CONTENT = "step_details.tool_calls[*].file_search.results[*].content";

export class ApiError extends Error {
  constructor(status, message, { param = null, code = null } = {}) {
    super(message);
    this.status = status;
    this.param = param;
    this.code = code;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

function query(params) {
  if (!params) return "";
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    for (const item of Array.isArray(v) ? v : [v]) q.append(k, item);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const err = body && body.error;
  if (err && typeof err.message === "string") {
    return new ApiError(res.status, err.message, { param: err.param, code: err.code });
  }
  return new ApiError(res.status, `The server answered ${res.status} ${res.statusText}.`);
}

// One request; a 401 asks for the key (once for all requests waiting) and tries again.
export async function request(method, path, { json, form, params, stream = false } = {}) {
  for (;;) {
    const headers = { "OpenAI-Beta": "assistants=v2" };
    const key = apiKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    if (stream) headers.Accept = "text/event-stream";
    let res;
    try {
      res = await fetch(path + query(params), { method, headers, body, cache: "no-store" });
    } catch (e) {
      throw new ApiError(0, `The airlock server cannot be reached (${e.message}). Is it running?`);
    }
    if (res.status === 401) {
      const error = await errorOf(res);
      if (await askForKey(error.message, Boolean(key))) continue;
      throw error;
    }
    if (!res.ok) throw await errorOf(res);
    return res;
  }
}

export async function api(method, path, options = {}) {
  const res = await request(method, path, options);
  return res.json();
}

export const get = (path, params) => api("GET", path, { params });
export const post = (path, json, params) => api("POST", path, { json, params });
export const del = (path, params) => api("DELETE", path, { params });

// Every page of a list (`after` paging), up to `max` objects.
export async function listAll(path, params = {}, max = 1000) {
  const out = [];
  let after;
  for (;;) {
    const page = await get(path, { limit: 100, ...params, after });
    out.push(...page.data);
    if (!page.has_more || out.length >= max || !page.last_id) return out;
    after = page.last_id;
  }
}

export async function uploadFile(file, purpose = "assistants") {
  const form = new FormData();
  form.append("purpose", purpose);
  form.append("file", file, file.name);
  return api("POST", "/v1/files", { form });
}

// --- Files: names and contents, cached ------------------------------------------------------

const fileInfos = new Map();
const fileBlobs = new Map();

export function fileInfo(id) {
  if (!fileInfos.has(id)) {
    const p = get(`/v1/files/${encodeURIComponent(id)}`);
    p.catch(() => fileInfos.delete(id));
    fileInfos.set(id, p);
  }
  return fileInfos.get(id);
}

export function fileBlob(id) {
  if (!fileBlobs.has(id)) {
    const p = request("GET", `/v1/files/${encodeURIComponent(id)}/content`).then((r) => r.blob());
    p.catch(() => fileBlobs.delete(id));
    fileBlobs.set(id, p);
  }
  return fileBlobs.get(id);
}

export async function fileUrl(id) {
  return URL.createObjectURL(await fileBlob(id));
}

export async function downloadFile(id, fallbackName) {
  const [blob, info] = await Promise.all([fileBlob(id), fileInfo(id).catch(() => null)]);
  const name = (info && info.filename) || fallbackName || id;
  saveBlob(blob, name);
  return name;
}

// A download from any path of this server's API (a container's file, say): a plain link could
// not send the API key, so the page fetches it and saves the blob.
export async function downloadPath(path, name) {
  saveBlob(await (await request("GET", path)).blob(), name);
  return name;
}

function saveBlob(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name.split("/").pop();
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

// --- Runs and streams ------------------------------------------------------------------------

export const STEP_INCLUDE = { "include[]": INCLUDE_CONTENT };

// Reads a text/event-stream response: yields {event, data, raw} with data parsed (or "[DONE]")
// and raw the frame as it came (inspectors show it).
export async function* events(res) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buf += value.replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (!data.length) continue;
      const raw = data.join("\n");
      yield { event, data: raw === "[DONE]" ? raw : JSON.parse(raw), raw: block };
    }
    if (done) return;
  }
}

// The SDKs' accumulation rule (docs/wire/streaming.md): absent keys take the delta's value,
// `index` and `type` are overwritten, strings concatenated, numbers added, dicts merged,
// lists merged entry by entry on `index`.
export function mergeDelta(target, delta) {
  for (const [key, value] of Object.entries(delta)) {
    const have = target[key];
    if (have === undefined || have === null) {
      target[key] = structuredClone(value);
    } else if (key === "index" || key === "type") {
      target[key] = value;
    } else if (typeof have === "string" && typeof value === "string") {
      target[key] = have + value;
    } else if (typeof have === "number" && typeof value === "number") {
      target[key] = have + value;
    } else if (Array.isArray(have) && Array.isArray(value)) {
      for (const entry of value) {
        if (entry && typeof entry === "object" && Number.isInteger(entry.index)) {
          const at = have.findIndex((x) => x && x.index === entry.index);
          if (at >= 0) mergeDelta(have[at], entry);
          else have.push(structuredClone(entry));
        } else {
          have.push(structuredClone(entry));
        }
      }
    } else if (have && typeof have === "object" && value && typeof value === "object") {
      mergeDelta(have, value);
    } else if (value !== null) {
      target[key] = value;
    }
  }
  return target;
}
