// A file of /v1/files shown in a dialog (text, image or PDF, else a download): what a citation
// or a search result opens, in the Threads and the Responses views alike.

import { downloadFile, fileBlob, fileInfo } from "./api.js";
import { busy, clear, h, modal } from "./ui.js";

export const FILE_SEARCH_EXT = /\.(pdf|txt|md|html?|json|docx|pptx|py|js|ts|java|c|cpp|cs|go|rb|php|sh|css|tex)$/i;

export async function openFile(fileId, name) {
  const body = h("div", { class: "file-view", id: "file-view" }, h("p", { class: "muted" }, "Loading…"));
  const download = h("button", { type: "button", onclick: () => busy(download, () => downloadFile(fileId, name)) }, "Download");
  modal(name || fileId, body, { actions: [download], wide: true });
  try {
    const [info, blob] = await Promise.all([fileInfo(fileId), fileBlob(fileId)]);
    const filename = info.filename || name || fileId;
    const meta = h("p", { class: "muted small" }, `${filename} · ${info.bytes} bytes · ${fileId}`);
    const type = blob.type || "";
    if (type.startsWith("image/")) {
      clear(body, meta, h("img", { class: "file-image", src: URL.createObjectURL(blob), alt: filename }));
    } else if (type === "application/pdf") {
      clear(body, meta, h("iframe", { class: "file-frame", src: URL.createObjectURL(blob), title: filename }));
    } else if (type.startsWith("text/") || /json|xml|javascript/.test(type) || FILE_SEARCH_EXT.test(filename) || blob.size < 200_000) {
      const text = await blob.slice(0, 500_000).text();
      clear(body, meta, h("pre", { class: "file-text", "data-role": "file-text" }, text));
    } else {
      clear(body, meta, h("p", {}, "This file cannot be shown here; download it."));
    }
    const title = document.querySelector("dialog.modal h2");
    if (title) title.textContent = filename;
  } catch (e) {
    clear(body, h("p", { class: "error-text" }, e.message));
  }
}
