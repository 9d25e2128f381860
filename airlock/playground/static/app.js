// The Playground: a hash router over four views (assistants, threads with the run inspector,
// responses with the event inspector, the scripted model), all talking to this server's own API.

import { apiKey, get, setApiKey } from "./api.js";
import { mountAssistants } from "./assistants.js";
import { mountResponses } from "./responses.js";
import { mountScripted } from "./scripted.js";
import { mountThreads } from "./threads.js";
import { clear, h, showError, toast } from "./ui.js";

const VIEWS = {
  assistants: mountAssistants,
  threads: mountThreads,
  responses: mountResponses,
  scripted: mountScripted,
};

let unmount = null;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, qs] = raw.split("?");
  const [view, id] = path.split("/");
  return { view: VIEWS[view] ? view : "assistants", id: id ? decodeURIComponent(id) : "", params: new URLSearchParams(qs || "") };
}

async function route() {
  const { view, id, params } = parseHash();
  for (const a of document.querySelectorAll(".tabs a[data-view]")) {
    a.classList.toggle("active", a.dataset.view === view);
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (unmount) {
    try {
      unmount();
    } catch (e) {
      console.error(e);
    }
    unmount = null;
  }
  const main = document.getElementById("view");
  clear(main);
  main.dataset.view = view;
  try {
    unmount = (await VIEWS[view](main, { id, params })) || null;
  } catch (e) {
    showError(e);
    clear(main, h("div", { class: "empty" }, h("p", {}, "This view could not be shown: "),
      h("p", { class: "error-text" }, e.message || String(e)),
      h("button", { type: "button", onclick: () => route() }, "Try again")));
  }
}

async function checkServer() {
  const status = document.getElementById("server-status");
  try {
    const models = await get("/v1/models");
    status.textContent = `${location.host} · ${models.data.length} models`;
    status.title = models.data.map((m) => m.id).join(", ");
  } catch (e) {
    status.textContent = `${location.host} · not answering`;
  }
}

function setupKeyButton() {
  const button = document.getElementById("key-button");
  button.hidden = !apiKey();
  button.addEventListener("click", () => {
    if (confirm("Forget the API key this tab holds? The page asks again on the next call.")) {
      setApiKey("");
      button.hidden = true;
      toast("API key forgotten for this tab.", "info");
    }
  });
}

window.addEventListener("error", (ev) => {
  if (ev.error) showError(ev.error);
});
window.addEventListener("unhandledrejection", (ev) => showError(ev.reason));
window.addEventListener("hashchange", route);

setupKeyButton();
route();
checkServer();
