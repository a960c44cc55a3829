// What the chat page's scripts share (loaded first; chat.js and library.js use these globals):
// elements built with textContent only (article text and questions are untrusted, never HTML), the
// API key, calls to the JSON API, errors in words people understand, and the reader panel.
"use strict";
document.documentElement.classList.add("js");

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function safeUrl(url) {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch (e) {
    return null;
  }
}

// "1 passage", "2 passages"
function plural(n, one, many) {
  return n.toLocaleString("en") + " " + (n === 1 ? one : many || one + "s");
}

// a byte limit as people read it: 5000000 -> "5 MB" (pages.size_text)
function sizeText(n) {
  for (const [unit, scale] of [["MB", 1e6], ["kB", 1e3]]) {
    if (n >= scale) return (n / scale).toFixed(1).replace(/\.0$/, "") + " " + unit;
  }
  return plural(n, "byte");
}

function quoted(text) {
  return "\u201c" + text + "\u201d";
}

// -- the API key: typed in any .api-key field, kept in sessionStorage (this tab only) ---------------
function apiKey() {
  for (const field of document.querySelectorAll(".api-key")) if (field.value) return field.value;
  return sessionStorage.getItem("qa-key") || "";
}

function rememberKey(value) {
  if (value) sessionStorage.setItem("qa-key", value);
  else sessionStorage.removeItem("qa-key");
  for (const field of document.querySelectorAll(".api-key")) if (field.value !== value) field.value = value;
}

// Where to type the key: the first key field that can be seen (the library's, or the one by the question box).
function focusKey() {
  const fields = [...document.querySelectorAll(".api-key")];
  const field = fields.find((f) => f.offsetParent !== null) || fields[0];
  if (field) {
    field.classList.add("needs-key");
    field.focus();
    field.select();
  }
}

// -- errors --------------------------------------------------------------------------------------
// An error event inside a stream has no HTTP status; its type says which it would have been.
const STATUS_OF_TYPE = {
  invalid_request_error: 400, authentication_error: 401, permission_error: 403, not_found_error: 404,
  conflict_error: 409, request_too_large: 413, unsupported_media_type: 415, server_error: 500,
  service_unavailable: 503,
};

function statusOf(error) {
  if (error && typeof error.code === "number") return error.code;
  return (error && STATUS_OF_TYPE[error.type]) || 500;
}

// A server message as a sentence: capital first letter, final full stop.
function sentence(text) {
  text = String(text || "").trim().replace(/\s+/g, " ");
  if (!text) return text;
  text = text[0].toUpperCase() + text.slice(1);
  return /[.!?]$/.test(text) ? text : text + ".";
}

// What to tell a person about a refused or failed request, never a class name or a traceback.
// `what`: what they sent ("question", "article", "file", "library"). Mirrors pages.plain_error.
function plainError(status, error, what, keySent) {
  const code = error && typeof error.code === "string" ? error.code : "";
  const message = error && typeof error.message === "string" ? error.message : "";
  what = what || "request";
  if (status === 401 || status === 403) {
    if (!document.querySelector(".api-key")) return "This needs the API key: reload the page to enter it.";
    return keySent ? "That API key was not accepted. Check it and try again."
      : "This needs the API key: enter it in the API key field and try again.";
  }
  if (status === 413) {
    const limit = Number(document.body.dataset.maxUpload || 0);
    if (["file", "article", "link"].includes(what) && limit) {
      return "That " + (what === "link" ? "page" : what) + " is too large (the limit is " + sizeText(limit) + ").";
    }
    return "That " + what + " is too large.";
  }
  if (status === 503) {
    if (code === "index_busy" || message.includes("another process is writing")) {
      return "Another process is writing to the index; try again in a moment.";
    }
    if (!message.includes("reachable") && (message.includes("loading") || message.includes("not ready"))) {
      return "The service is still starting up; try again in a moment.";
    }
    return "The search index is not reachable; try again in a moment.";
  }
  if (!status) return "The server could not be reached. Check that it is running and try again.";
  if (status >= 500) return "Something went wrong on our side; try again.";
  if (status === 409 && (code === "nothing_indexed" || message.includes("nothing is indexed"))) {
    return "Nothing is indexed yet: add an article in the Library first.";
  }
  if (status === 404 && (what === "article" || what === "library")) return "That article is no longer in the library.";
  if (!message.trim() || /\b[A-Za-z]*(Error|Exception)\b|Traceback/.test(message)) {
    return "That did not work; check what you entered and try again.";
  }
  return sentence(message);
}

// One call to the JSON API with the key, if there is one: {ok, status, data, error, keySent};
// status 0 when the server could not be reached at all.
async function callApi(path, options) {
  options = options || {};
  const headers = new Headers(options.headers || {});
  headers.set("Accept", "application/json");
  const key = apiKey();
  if (key) headers.set("X-API-Key", key);
  let res;
  try {
    res = await fetch(path, Object.assign({}, options, { headers }));
  } catch (e) {
    return { ok: false, status: 0, data: null, error: null, keySent: Boolean(key) };
  }
  let data = null;
  try {
    data = await res.json();
  } catch (e) { /* a proxy's HTML page, an empty body: the status says enough */ }
  return { ok: res.ok, status: res.status, data, error: res.ok ? null : data && data.error, keySent: Boolean(key) };
}

// -- the reader panel: a cited passage, or a whole article ---------------------------------------
function setPanel(open) {
  const panel = document.getElementById("source-panel");
  panel.hidden = !open;
  document.body.classList.toggle("panel-open", open);
  if (!open) delete panel.dataset.doc;
}

function titleNode(tag, title, url) {
  const h = el(tag);
  const safe = url && safeUrl(url);
  if (safe) {
    const a = el("a", null, title);
    a.href = safe;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    h.append(a);
  } else {
    h.textContent = title;
  }
  return h;
}

// text with [start, end) marked
function markedText(cls, text, start, end) {
  const node = el("div", cls);
  if (Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start < end && end <= text.length) {
    node.append(document.createTextNode(text.slice(0, start)), el("mark", null, text.slice(start, end)),
      document.createTextNode(text.slice(end)));
  } else {
    node.textContent = text;
  }
  return node;
}

// "26 Aug 2021" from an ISO date; a date written another way as it is; "undated". Mirrors qa.text.date_label.
function dateLabel(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec((value || "").trim());
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  if (m && Number(m[2]) >= 1 && Number(m[2]) <= 12) return Number(m[3]) + " " + months[Number(m[2]) - 1] + " " + m[1];
  return (value || "").trim().replace(/\s+/g, " ") || "undated";
}

function docMeta(info) {
  const parts = [];
  if (info.published) parts.push(info.published);
  if (info.author) parts.push(info.author);
  parts.push(sourceLabel(info));
  parts.push(plural(info.chunks, "passage") + ", " + plural(info.sentences, "sentence"));
  return parts.join(" \u00b7 ");
}

// where an article came from: its site, its file, or "uploaded" (pages.source_label)
function sourceLabel(info) {
  if (info.site) return info.site; // an article added by its link: the publication's name
  const url = info.url && safeUrl(info.url);
  if (url) return new URL(url).hostname.replace(/^www\./, "");
  return info.source === "api" ? "uploaded" : info.source.replace(/\\/g, "/").split("/").pop(); // the file's name
}

// A whole article in the reader panel (GET /api/documents/{id}); `quote` {start, end} is marked.
async function openArticle(docId, quote) {
  const body = document.getElementById("panel-body");
  const r = await callApi("/api/documents/" + encodeURIComponent(docId));
  if (!r.ok) {
    body.replaceChildren(el("p", "error-text", plainError(r.status, r.error, "article", r.keySent)));
    body.lastChild.setAttribute("role", "alert");
    document.getElementById("panel-title").textContent = "Article";
    setPanel(true);
    if (r.status === 401 || r.status === 403) focusKey();
    return false;
  }
  const { info, article } = r.data;
  document.getElementById("panel-title").textContent = "Article";
  body.replaceChildren(
    titleNode("h3", article.title, article.url),
    el("p", "date", docMeta(info)),
    markedText("article-text", article.text, quote && quote.start, quote && quote.end),
  );
  const panel = document.getElementById("source-panel");
  setPanel(true);
  panel.dataset.doc = docId;
  panel.scrollTop = 0;
  const mark = body.querySelector("mark");
  if (mark) mark.scrollIntoView({ block: "center" });
  document.getElementById("panel-close").focus();
  return true;
}

document.addEventListener("DOMContentLoaded", () => {
  const stored = sessionStorage.getItem("qa-key") || "";
  for (const field of document.querySelectorAll(".api-key")) {
    if (stored && !field.value) field.value = stored;
    field.addEventListener("input", () => {
      field.classList.remove("needs-key");
      rememberKey(field.value);
    });
  }
  // a file dropped outside the library's drop zone must not replace the page (and the conversation)
  // (the library panel takes files itself and stops the event before it gets here)
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (!event.dataTransfer || ![...event.dataTransfer.types].includes("Files")) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "none";
    });
  }
});
