// DOM helpers: elements built from data (text is always set as text, never parsed as HTML),
// toasts for errors, modal dialogs, the API-key prompt.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked" || k === "disabled" || k === "hidden" || k === "selected") el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function when(ts) {
  if (!ts) return "—";
  return new Date(ts * 1000).toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function seconds(a, b) {
  if (!a || !b) return null;
  return `${Math.max(0, b - a)} s`;
}

export function pretty(value) {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

export function shortId(id) {
  return id && id.length > 16 ? `${id.slice(0, 10)}…${id.slice(-4)}` : id;
}

// --- Toasts ----------------------------------------------------------------------------------

export function toast(message, kind = "error", ms = kind === "error" ? 12_000 : 4_000) {
  const box = document.getElementById("toasts");
  const close = h("button", { class: "toast-close", type: "button", "aria-label": "Dismiss" }, "×");
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { class: "toast-text" }, message), close);
  close.addEventListener("click", () => el.remove());
  box.append(el);
  if (ms) setTimeout(() => el.remove(), ms);
  return el;
}

export function showError(e) {
  const status = e && e.status ? ` (${e.status})` : "";
  const param = e && e.param ? ` [${e.param}]` : "";
  toast(`${(e && e.message) || String(e)}${param}${status}`, "error");
  console.error(e);
}

// Runs an async action from a button: disables it meanwhile, reports errors as toasts.
export async function busy(button, action) {
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (e) {
    showError(e);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// --- Modal dialogs ---------------------------------------------------------------------------

export function modal(title, body, { actions = [], onClose, wide = false } = {}) {
  const dialog = h("dialog", { class: wide ? "modal wide" : "modal" });
  const close = () => {
    dialog.close();
    dialog.remove();
    if (onClose) onClose();
  };
  const closeButton = h("button", { type: "button", class: "ghost small", "aria-label": "Close" }, "×");
  closeButton.addEventListener("click", close);
  dialog.append(
    h("header", { class: "modal-head" }, h("h2", {}, title), closeButton),
    h("div", { class: "modal-body" }, body),
    actions.length ? h("footer", { class: "modal-foot" }, actions) : null,
  );
  dialog.addEventListener("cancel", (ev) => {
    ev.preventDefault();
    close();
  });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close };
}

let keyPrompt = null;

// Asks for the API key; resolves true once one was entered (kept for this tab only).
export function askForKey(message, hadKey) {
  if (keyPrompt) return keyPrompt;
  keyPrompt = new Promise((resolve) => {
    const input = h("input", {
      type: "password", id: "api-key-input", autocomplete: "off", placeholder: "the key given to --api-key",
    });
    const form = h("form", { class: "key-form", id: "api-key-form" },
      h("p", {}, hadKey ? "The server refused this key: " : "This airlock server asks for an API key. ",
        h("span", { class: "muted" }, message)),
      h("label", { for: "api-key-input" }, "API key"), input,
      h("p", { class: "muted small" }, "The key is kept in this browser tab only (sessionStorage) and sent as "
        + "Authorization: Bearer with every API call."));
    let done = false;
    const finish = (ok) => {
      if (done) return;
      done = true;
      keyPrompt = null;
      resolve(ok);
    };
    const submit = h("button", { type: "submit", form: "api-key-form", class: "primary" }, "Use this key");
    const { close } = modal("API key required", form, {
      actions: [submit], onClose: () => finish(false),
    });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      sessionStorage.setItem("airlock.apiKey", key);
      document.getElementById("key-button").hidden = false;
      finish(true);
      close();
    });
    input.focus();
  });
  return keyPrompt;
}

export function onEnterSend(textarea, send) {
  textarea.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      send();
    }
  });
}
