// A small, safe markdown renderer for model output. Everything is HTML-escaped first; only this
// whitelist becomes markup: paragraphs, headings, fenced code blocks, inline code, bold, italic,
// lists, block quotes, and links whose scheme is http(s) or sandbox: (a file the code wrote).
// Model text can never add a tag, an attribute or a script.

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ESC[c]);

// Private-use characters frame placeholders; model text that contains them has them removed.
const CITE_OPEN = "\uE000";
const CITE_CLOSE = "\uE001";
const STASH_OPEN = "\uE002";
const STASH_CLOSE = "\uE003";
const PRIVATE = /[\uE000-\uE003]/g;

// Renders `text` (a message's text part) with its annotations to HTML, in either API's shape:
// Assistants' file_citation replaces its marker (start_index..end_index, the name in the marker);
// Responses' marks a place (`index`, the marker already removed, the name in `filename`), and its
// container_file_citation spans a `sandbox:` URL the code's file answers.
// Returns {html, refs, files}: refs lists the cited files, numbered in order of first citation;
// files the container files cited.
export function renderText(text, annotations = []) {
  const refs = [];
  const files = [];
  const paths = new Map();
  const spans = [];
  const clean = String(text || "");
  for (const a of annotations || []) {
    if (a.type === "file_citation" && (a.file_citation || a.file_id)) {
      const id = a.file_citation ? a.file_citation.file_id : a.file_id;
      let ref = refs.find((r) => r.fileId === id);
      if (!ref) {
        ref = { n: refs.length + 1, fileId: id, name: a.filename || citedName(a.text) };
        refs.push(ref);
      }
      if (Number.isInteger(a.start_index) && Number.isInteger(a.end_index)) {
        spans.push({ start: a.start_index, end: a.end_index, n: ref.n });
      } else if (Number.isInteger(a.index)) {
        spans.push({ start: a.index, end: a.index, n: ref.n });
      }
    } else if (a.type === "file_path" && a.file_path) {
      paths.set(a.text, a.file_path.file_id);
    } else if (a.type === "container_file_citation" && a.container_id && a.file_id) {
      const file = { containerId: a.container_id, fileId: a.file_id, name: a.filename || a.file_id };
      if (!files.some((f) => f.fileId === file.fileId)) files.push(file);
      paths.set(clean.slice(a.start_index, a.end_index), file);
    }
  }
  // Citation markers become placeholders, replaced by reference buttons after rendering.
  spans.sort((x, y) => x.start - y.start);
  let source = "";
  let at = 0;
  for (const s of spans) {
    if (s.start < at || s.end > clean.length) continue;
    source += clean.slice(at, s.start).replace(PRIVATE, "") + CITE_OPEN + s.n + CITE_CLOSE;
    at = s.end;
  }
  source += clean.slice(at).replace(PRIVATE, "");
  let html = renderMarkdown(source, paths);
  html = html.replace(new RegExp(`${CITE_OPEN}(\\d+)${CITE_CLOSE}`, "g"), (_, n) => {
    const ref = refs[Number(n) - 1];
    return `<sup><a href="#" class="cite" data-file-id="${escapeHtml(ref.fileId)}" `
      + `title="${escapeHtml(ref.name || ref.fileId)}">[${n}]</a></sup>`;
  });
  return { html, refs, files };
}

// Where a container's file is downloaded (GET, with the API key).
export function containerFilePath(containerId, fileId) {
  return `/v1/containers/${encodeURIComponent(containerId)}/files/${encodeURIComponent(fileId)}/content`;
}

// 【0:0†policy.pdf】 names its file after the dagger.
function citedName(marker) {
  const m = /†([^】]*)】?$/.exec(marker || "");
  return m ? m[1].trim() : "";
}

export function renderMarkdown(src, paths = new Map()) {
  const lines = String(src).replace(/\r\n?/g, "\n").split("\n");
  const out = [];
  let para = [];
  let list = null; // {tag, items}
  let quote = [];

  const flushPara = () => {
    if (para.length) out.push(`<p>${para.map((l) => inline(l, paths)).join("<br>")}</p>`);
    para = [];
  };
  const flushList = () => {
    if (list) {
      out.push(`<${list.tag}>${list.items.map((i) => `<li>${inline(i, paths)}</li>`).join("")}</${list.tag}>`);
    }
    list = null;
  };
  const flushQuote = () => {
    if (quote.length) out.push(`<blockquote>${renderMarkdown(quote.join("\n"), paths)}</blockquote>`);
    quote = [];
  };
  const flushAll = () => {
    flushPara();
    flushList();
    flushQuote();
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = /^\s*(```|~~~)\s*([\w+-]*)\s*$/.exec(line);
    if (fence) {
      flushAll();
      const body = [];
      let j = i + 1;
      while (j < lines.length && !lines[j].trim().startsWith(fence[1])) body.push(lines[j++]);
      const lang = fence[2] ? ` data-lang="${escapeHtml(fence[2])}"` : "";
      out.push(`<pre class="code"${lang}><code>${escapeHtml(body.join("\n"))}</code></pre>`);
      i = j; // the closing fence (or the end of an unfinished, still streaming block)
      continue;
    }
    if (!line.trim()) {
      flushAll();
      continue;
    }
    const quoted = /^\s*>\s?(.*)$/.exec(line);
    if (quoted) {
      flushPara();
      flushList();
      quote.push(quoted[1]);
      continue;
    }
    flushQuote();
    const heading = /^\s*(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      flushAll();
      const level = Math.min(6, heading[1].length + 2);
      out.push(`<h${level}>${inline(heading[2], paths)}</h${level}>`);
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flushAll();
      out.push("<hr>");
      continue;
    }
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d{1,9}[.)]\s+(.*)$/.exec(line);
    if (bullet || numbered) {
      flushPara();
      const tag = bullet ? "ul" : "ol";
      if (list && list.tag !== tag) flushList();
      if (!list) list = { tag, items: [] };
      list.items.push((bullet || numbered)[1]);
      continue;
    }
    if (list && /^\s{2,}\S/.test(line)) {
      list.items[list.items.length - 1] += ` ${line.trim()}`;
      continue;
    }
    flushList();
    para.push(line);
  }
  flushAll();
  return out.join("\n");
}

const SAFE_URL = /^(https?:\/\/|sandbox:)/i;

function inline(text, paths) {
  const stash = [];
  const keep = (html) => `${STASH_OPEN}${stash.push(html) - 1}${STASH_CLOSE}`;
  let s = String(text);
  // Inline code first: nothing inside it is markdown.
  s = s.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (_, __, code) => keep(`<code>${escapeHtml(code.trim() || code)}</code>`));
  // Links [label](url): only http(s) and sandbox: targets become links; others stay text.
  s = s.replace(/\[([^\]\n]+)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g, (whole, label, url) => {
    if (!SAFE_URL.test(url)) return whole;
    return keep(link(url, inlineBasic(escapeHtml(label)), paths));
  });
  // Bare sandbox: paths and URLs.
  s = s.replace(/sandbox:\/[^\s)\]<>"'`]+/g, (url) => keep(link(url, escapeHtml(url), paths)));
  s = s.replace(/https?:\/\/[^\s)\]<>"'`]+/g, (url) => {
    const trimmed = url.replace(/[.,;:!?]+$/, "");
    return keep(link(trimmed, escapeHtml(trimmed), paths)) + url.slice(trimmed.length);
  });
  s = inlineBasic(escapeHtml(s));
  return s.replace(new RegExp(`${STASH_OPEN}(\\d+)${STASH_CLOSE}`, "g"), (_, i) => stash[Number(i)]);
}

// Bold and italic on already escaped text.
function inlineBasic(s) {
  return s
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>")
    .replace(/__(?=\S)([\s\S]*?\S)__/g, "<strong>$1</strong>")
    .replace(/(^|[^*\w])\*(?=\S)([^*]*?\S)\*(?!\*)/g, "$1<em>$2</em>")
    .replace(/(^|[^_\w])_(?=\S)([^_]*?\S)_(?![_\w])/g, "$1<em>$2</em>")
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, "<del>$1</del>");
}

function link(url, labelHtml, paths) {
  const target = paths.get(url);
  if (target && typeof target === "object") {
    // A container's file (Responses): a real link to its content, downloaded with the key.
    return `<a href="${escapeHtml(containerFilePath(target.containerId, target.fileId))}" class="container-file"`
      + ` data-container-id="${escapeHtml(target.containerId)}" data-file-id="${escapeHtml(target.fileId)}"`
      + ` data-name="${escapeHtml(target.name)}" title="Download ${escapeHtml(target.name)}">${labelHtml}</a>`;
  }
  if (/^sandbox:/i.test(url)) {
    const fileId = target;
    const name = url.split("/").pop();
    return `<a href="#" class="sandbox-link" data-sandbox="${escapeHtml(url)}"`
      + (fileId ? ` data-file-id="${escapeHtml(fileId)}"` : "")
      + ` data-name="${escapeHtml(name)}" title="Download ${escapeHtml(name)}">${labelHtml}</a>`;
  }
  return `<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer nofollow">${labelHtml}</a>`;
}
