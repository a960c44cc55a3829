// The library panel on the chat page, through the JSON API: lists the indexed articles
// (GET /api/documents), opens one in the reader panel (GET /api/documents/{id}), adds one from pasted
// text or a link (POST JSON) or from files chosen or dropped (POST multipart, one at a time), follows
// feeds (/api/feeds), and deletes one
// after an inline confirmation (DELETE). Without JavaScript the Library link leads to the
// server-rendered /library pages instead. Uses common.js (loaded first).
"use strict";

const library = { docs: null, busy: false };

function libraryStatus(text, kind) {
  const status = document.getElementById("library-status");
  status.textContent = text;
  status.className = "status-line" + (kind ? " " + kind : "");
  if (text) status.scrollIntoView({ block: "nearest" });
}

function libraryOpen() {
  return !document.getElementById("library-panel").hidden;
}

function setLibrary(open) {
  const panel = document.getElementById("library-panel");
  const toggle = document.getElementById("library-toggle");
  panel.hidden = !open;
  toggle.setAttribute("aria-expanded", String(open));
  toggle.classList.toggle("active", open);
  document.body.classList.toggle("library-open", open);
  if (open) {
    document.getElementById("library-title").focus();
    loadLibrary();
  } else {
    toggle.focus();
  }
}

// The header's "Answers only from 2 articles (5 passages)", kept in step with the library.
function updateCorpus(docs) {
  const corpus = document.getElementById("corpus");
  if (!corpus) return; // (an error the page was served with is replaced too: the library answered)
  if (!docs.length) {
    corpus.textContent = "No articles yet: add one in the Library, then ask about it.";
    return;
  }
  const hint = document.getElementById("empty-hint");
  if (hint && hint.dataset.empty) {
    hint.textContent = "Ask something the articles might answer. Follow-ups use the conversation.";
    delete hint.dataset.empty;
  }
  const passages = docs.reduce((n, d) => n + d.chunks, 0);
  const how = corpus.dataset.llm === "1" ? "checked against the passage it cites" : "quoted and cited";
  corpus.textContent = "Answers only from " + plural(docs.length, "article") + " (" + plural(passages, "passage") +
    "), each sentence " + how + ".";
}

async function loadLibrary(fresh) {
  const list = document.getElementById("library-list");
  list.setAttribute("aria-busy", "true");
  if (library.docs === null) list.replaceChildren(el("li", "empty", "Loading the articles\u2026"));
  const r = await callApi("/api/documents");
  list.setAttribute("aria-busy", "false");
  if (!r.ok) {
    const li = el("li", "empty error-text", plainError(r.status, r.error, "library", r.keySent));
    li.setAttribute("role", "alert");
    list.replaceChildren(li);
    if (r.status === 401 || r.status === 403) focusKey();
    return;
  }
  library.docs = r.data;
  renderLibrary(fresh || []);
}

function renderLibrary(fresh) {
  const docs = [...library.docs].sort((a, b) => a.title.localeCompare(b.title, "en", { sensitivity: "base" }) || a.id.localeCompare(b.id));
  const list = document.getElementById("library-list");
  const passages = docs.reduce((n, d) => n + d.chunks, 0);
  document.getElementById("library-count").textContent = docs.length
    ? plural(docs.length, "article") + " \u00b7 " + plural(passages, "passage") : "No articles yet";
  updateCorpus(docs);
  const filter = document.getElementById("library-filter");
  filter.hidden = docs.length < 6;
  list.replaceChildren();
  if (!docs.length) {
    list.append(el("li", "empty", "No articles yet. Add one: paste its title and text, or drop a file here."));
    document.getElementById("add-article").open = true;
    return;
  }
  for (const info of docs) list.append(docItem(info, fresh.includes(info.id)));
  applyFilter();
  const first = list.querySelector(".doc.fresh");
  if (first) first.scrollIntoView({ block: "nearest" });
}

function docItem(info, fresh) {
  const li = el("li", "doc" + (fresh ? " fresh" : ""));
  li.dataset.id = info.id;
  const title = el("a", "doc-title", info.title);
  title.href = "/library/" + encodeURIComponent(info.id); // a new tab gets the plain page
  const remove = el("button", "link-button doc-delete", "Delete");
  remove.type = "button";
  remove.setAttribute("aria-label", "Delete " + quoted(info.title));
  const pick = el("label", "doc-scope");
  const box = el("input");
  box.type = "checkbox";
  box.className = "scope-box";
  box.checked = inScope(info.id);
  box.setAttribute("aria-label", "Ask only within " + quoted(info.title) + " (and others ticked)");
  pick.append(box, document.createTextNode(" ask only these"));
  li.append(title, el("p", "doc-meta", docMeta(info)), remove, pick);
  return li;
}

function applyFilter() {
  const query = document.getElementById("library-filter").value.trim().toLowerCase();
  const list = document.getElementById("library-list");
  let shown = 0;
  for (const li of list.querySelectorAll(".doc")) {
    const match = !query || li.textContent.toLowerCase().includes(query);
    li.hidden = !match;
    shown += match ? 1 : 0;
  }
  let none = list.querySelector(".no-match");
  if (!shown && query) {
    if (!none) list.append((none = el("li", "empty no-match")));
    none.textContent = "No article matches " + quoted(query) + ".";
  } else if (none) {
    none.remove();
  }
}

// -- adding --------------------------------------------------------------------------------------
function setBusy(busy) {
  library.busy = busy;
  for (const id of ["add-form", "link-form", "feed-form"]) {
    const form = document.getElementById(id);
    form.setAttribute("aria-busy", String(busy));
    for (const control of form.querySelectorAll("button, input, textarea")) control.disabled = busy;
  }
  document.getElementById("drop-zone").classList.toggle("busy", busy);
}

// An id's title: of the articles an add sent back, else of the list (a namesake it was added beside).
function titleOf(data, id) {
  const info = data.documents.find((d) => d.id === id) || (library.docs || []).find((d) => d.id === id);
  return info ? info.title : id;
}

// What an add did, in one line (pages.added_words says the same). `file`: a file was sent (its name
// gave the ids), not pasted text (its title did).
function addedWords(data, file) {
  const report = data.report;
  const title = (id) => titleOf(data, id);
  const plain = report.added.filter((id) => !Object.hasOwn(report.renamed, id)); // the others are added beside a namesake
  const parts = [];
  const info = plain.length === 1 ? data.documents.find((d) => d.id === plain[0]) : null;
  if (info) {
    parts.push("Added " + quoted(info.title) + ": " + plural(info.chunks, "passage") + ", " + plural(info.sentences, "sentence") + ".");
  } else if (plain.length) {
    parts.push("Added " + plural(plain.length, "article") + ".");
  }
  const why = file ? "its file has the same name" : "it has the same title";
  for (const [id, old] of Object.entries(report.renamed)) {
    if (report.added.includes(id)) parts.push("Added " + quoted(title(id)) + " beside " + quoted(title(old)) + ": " + why + " but tells another story.");
  }
  for (const id of report.updated) parts.push("Updated " + quoted(title(id)) + ": its new text is indexed.");
  for (const id of report.unchanged) parts.push(quoted(title(id)) + " is already in the library, unchanged.");
  for (const id of Object.values(report.duplicates)) parts.push("That text is already in the library as " + quoted(title(id)) + ".");
  const skipped = data.skipped || [];
  if (skipped.length) {
    const lines = skipped.slice(0, 3).map((s) => "line " + s.line + ": " + s.reason).join("; ");
    parts.push("Skipped " + plural(skipped.length, "record") + " (" + lines + (skipped.length > 3 ? "; \u2026" : "") + ").");
  }
  return parts.join(" ") || "Nothing new was added.";
}

// The offers to replace a namesake (pages.replacements): each article added beside one, while both
// are listed. {id, to, title, old}.
function replacements(data) {
  const listed = (id) => (library.docs || []).some((d) => d.id === id);
  return Object.entries(data.report.renamed).filter(([id, old]) => listed(id) && listed(old))
    .map(([id, old]) => ({ id, to: old, title: titleOf(data, id), old: titleOf(data, old) }));
}

// The status line's words, then a button for each offer: "Replace “…” with it" only right after the one
// sentence that names it (`it`), else with the new title.
function statusWithOffers(words, kind, offers, it) {
  libraryStatus(words, kind);
  const status = document.getElementById("library-status");
  for (const offer of offers) {
    const named = !it || offers.length > 1;
    const button = el("button", "button secondary replace", "Replace " + quoted(offer.old) + " with " + (named ? quoted(offer.title) : "it"));
    button.type = "button";
    button.addEventListener("click", () => replaceNamesake(offer));
    status.append(" ", button);
  }
}

// POST /api/documents/{id}/move: the article added beside a namesake takes its id; the namesake is gone.
async function replaceNamesake(offer) {
  for (const b of document.querySelectorAll("#library-status .replace")) b.disabled = true;
  const r = await callApi("/api/documents/" + encodeURIComponent(offer.id) + "/move", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ to: offer.to }),
  });
  if (!r.ok) {
    if (r.status === 401 || r.status === 403) focusKey();
    statusWithOffers(plainError(r.status, r.error, "article", r.keySent), "error", r.status === 404 ? [] : [offer], false);
    return;
  }
  const moved = r.data.document;
  const shown = document.getElementById("source-panel").dataset.doc;
  if (shown === offer.to || shown === offer.id) setPanel(false); // gone, or under another id now
  await loadLibrary([moved.id]);
  libraryStatus(r.data.replaced ? quoted(moved.title) + " replaced " + quoted(offer.old) + "."
    : quoted(moved.title) + " is kept; the article it was to replace was no longer in the library.", "ok");
}

// POST /api/documents; `label` names what is sent. {ok, words, offers}: what to tell the person, and
// the namesakes it may replace.
async function addArticles(body, headers, label, what) {
  setBusy(true);
  libraryStatus("Indexing " + label + "\u2026", "busy");
  const r = await callApi("/api/documents", { method: "POST", headers, body });
  setBusy(false);
  if (!r.ok) {
    if (r.status === 401 || r.status === 403) focusKey();
    const words = plainError(r.status, r.error, what, r.keySent);
    // a file the server could not read: say which, in the server's words
    const which = what === "file" && r.status >= 400 && r.status < 500 && ![401, 403, 413].includes(r.status);
    return { ok: false, words: which ? "Could not add " + label + ": " + words[0].toLowerCase() + words.slice(1) : words, offers: [] };
  }
  await loadLibrary(r.data.documents.map((d) => d.id));
  return { ok: true, words: addedWords(r.data, what === "file"), offers: replacements(r.data) };
}

async function addPasted(form) {
  const title = form.title.value.trim();
  const text = form.text.value;
  if (!title || !text.trim()) {
    libraryStatus("Give the article a title and its text, or choose a file.", "error");
    (title ? form.text : form.title).focus();
    return;
  }
  // the article limit, as the server words it (pages.plain_error), before megabytes are sent for nothing
  const limit = Number(document.body.dataset.maxUpload || 0);
  if (limit && new Blob([text]).size > limit) {
    libraryStatus(plainError(413, null, "article"), "error");
    form.text.focus();
    return;
  }
  const payload = { title, text };
  if (form.url.value.trim()) payload.url = form.url.value.trim();
  if (form.published.value.trim()) payload.published = form.published.value.trim();
  const done = await addArticles(JSON.stringify(payload), { "Content-Type": "application/json" }, quoted(title), "article");
  if (done.ok) for (const name of ["title", "text", "url", "published"]) form[name].value = "";
  statusWithOffers(done.ok ? done.words + " Ask about it in the question box." : done.words, done.ok ? "ok" : "error", done.offers, true);
}

// POST /api/documents {url}: the server fetches the page and reads its article.
async function addLink(form) {
  const url = form.link.value.trim();
  if (!url) {
    libraryStatus("Paste the article's link first.", "error");
    form.link.focus();
    return;
  }
  const done = await addArticles(JSON.stringify({ url }), { "Content-Type": "application/json" }, "the page at " + url, "link");
  if (done.ok) form.link.value = "";
  statusWithOffers(done.ok ? done.words + " Ask about it in the question box." : done.words, done.ok ? "ok" : "error", done.offers, true);
}

// -- feeds: GET /api/feeds, POST /api/feeds {url}, DELETE /api/feeds/{id} -------------------------
async function loadFeeds() {
  const list = document.getElementById("feed-list");
  if (!list) return;
  const r = await callApi("/api/feeds");
  if (!r.ok) {
    list.replaceChildren(el("li", "empty error-text", plainError(r.status, r.error, "library", r.keySent)));
    return;
  }
  if (!r.data.length) {
    list.replaceChildren(el("li", "empty", "No feeds followed yet."));
    return;
  }
  list.replaceChildren(...r.data.map(feedItem));
}

function feedItem(feed) {
  const li = el("li", "feed");
  li.dataset.id = feed.id;
  li.append(el("span", "feed-name", feed.name));
  const last = feed.last_fetch
    ? "last fetched " + feed.last_fetch.replace("T", " ").slice(0, 16) + " UTC: " + feed.last_outcome + ", " + plural(feed.last_new, "new article")
    : "not fetched yet";
  li.append(el("p", "doc-meta", plural(feed.articles, "article") + " · " + last + (feed.next_try ? " · retrying after " + feed.next_try.replace("T", " ").slice(0, 16) : "")));
  const remove = el("button", "button secondary feed-remove", "Stop following");
  remove.type = "button";
  remove.setAttribute("aria-label", "Stop following “" + feed.name + "”");
  li.append(remove);
  return li;
}

async function followFeed(form) {
  const url = form.url.value.trim();
  if (!url) return;
  setBusy(true);
  libraryStatus("Following " + url + " and adding its stories…", "busy");
  const r = await callApi("/api/feeds", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ url }) });
  setBusy(false);
  if (!r.ok) {
    if (r.status === 401 || r.status === 403) focusKey();
    libraryStatus(plainError(r.status, r.error, "link", r.keySent), "error");
    return;
  }
  form.url.value = "";
  const f = r.data.feed;
  libraryStatus(r.data.new ? "Following “" + f.name + "”: " + plural(f.last_new, "article") + " added." : "Already following “" + f.name + "”.", "ok");
  await Promise.all([loadFeeds(), loadLibrary()]);
}

async function unfollowFeed(li) {
  const r = await callApi("/api/feeds/" + encodeURIComponent(li.dataset.id), { method: "DELETE" });
  if (!r.ok) {
    libraryStatus(plainError(r.status, r.error, "request", r.keySent), "error");
    return;
  }
  libraryStatus("Stopped following “" + li.querySelector(".feed-name").textContent + "”; its articles stay.", "ok");
  await loadFeeds();
}

// Files chosen or dropped, one request each, so one bad file does not stop the others.
async function addFiles(files) {
  files = [...files];
  const limit = Number(document.body.dataset.maxUpload || 0);
  const results = [];
  for (const [i, file] of files.entries()) {
    const label = quoted(file.name);
    if (limit && file.size > limit) {
      const words = "That file is too large (the limit is " + sizeText(limit) + ").";
      results.push({ ok: false, words: files.length > 1 ? label + ": " + words : words, offers: [] });
      continue;
    }
    const data = new FormData();
    data.append("file", file, file.name);
    results.push(await addArticles(data, {}, label + (files.length > 1 ? " (" + (i + 1) + " of " + files.length + ")" : ""), "file"));
  }
  const ok = results.every((r) => r.ok);
  statusWithOffers(results.map((r) => r.words).join(" "), ok ? "ok" : "error", results.flatMap((r) => r.offers), true);
}

// -- deleting ------------------------------------------------------------------------------------
function askDelete(li) {
  const open = li.querySelector(".confirm");
  if (open) return open.querySelector(".cancel").focus();
  const info = library.docs.find((d) => d.id === li.dataset.id);
  const box = el("div", "confirm");
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", "Confirm the deletion");
  const sure = el("button", "button danger confirm-delete", "Delete");
  sure.type = "button";
  const cancel = el("button", "button secondary cancel", "Cancel");
  cancel.type = "button";
  box.append(el("p", null, "Delete " + quoted(info.title) + " from the library? Questions will no longer be answered from it."), sure, cancel);
  li.append(box);
  cancel.focus();
}

async function deleteDoc(li) {
  const info = library.docs.find((d) => d.id === li.dataset.id);
  for (const b of li.querySelectorAll("button")) b.disabled = true;
  libraryStatus("Deleting " + quoted(info.title) + "\u2026", "busy");
  const r = await callApi("/api/documents/" + encodeURIComponent(info.id), { method: "DELETE" });
  if (!r.ok && r.status !== 404) {
    for (const b of li.querySelectorAll("button")) b.disabled = false;
    libraryStatus(plainError(r.status, r.error, "article", r.keySent), "error");
    if (r.status === 401 || r.status === 403) focusKey();
    return;
  }
  libraryStatus(r.ok ? "Deleted " + quoted(info.title) + "." : quoted(info.title) + " was no longer in the library.", "ok");
  if (document.getElementById("source-panel").dataset.doc === info.id) setPanel(false);
  await loadLibrary();
  document.getElementById("library-title").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  const panel = document.getElementById("library-panel");
  const toggle = document.getElementById("library-toggle");
  const list = document.getElementById("library-list");
  const form = document.getElementById("add-form");
  const fileInput = document.getElementById("add-file");
  const zone = document.getElementById("drop-zone");

  toggle.addEventListener("click", (event) => {
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return; // a new tab: the plain page
    event.preventDefault();
    setLibrary(!libraryOpen());
  });
  for (const link of document.querySelectorAll("a.open-library")) {
    link.addEventListener("click", (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      if (!libraryOpen()) setLibrary(true);
    });
  }
  document.getElementById("library-close").addEventListener("click", () => setLibrary(false));
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !libraryOpen()) return;
    const confirm = list.querySelector(".confirm");
    if (confirm) {
      const li = confirm.closest(".doc");
      confirm.remove();
      li.querySelector(".doc-delete").focus();
    } else {
      setLibrary(false);
    }
  });

  list.addEventListener("change", (event) => {
    const box = event.target.closest(".scope-box");
    if (!box) return;
    const li = box.closest(".doc");
    const info = (library.docs || []).find((d) => d.id === li.dataset.id);
    setInScope(li.dataset.id, info ? info.title : li.dataset.id, box.checked);
  });
  list.addEventListener("click", (event) => {
    const li = event.target.closest(".doc");
    if (!li) return;
    const title = event.target.closest(".doc-title");
    if (title) {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      openArticle(li.dataset.id);
    } else if (event.target.closest(".doc-delete")) {
      askDelete(li);
    } else if (event.target.closest(".confirm-delete")) {
      deleteDoc(li);
    } else if (event.target.closest(".cancel")) {
      li.querySelector(".confirm").remove();
      li.querySelector(".doc-delete").focus();
    }
  });
  document.getElementById("library-filter").addEventListener("input", applyFilter);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!library.busy) addPasted(form);
  });
  const linkForm = document.getElementById("link-form");
  linkForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!library.busy) addLink(linkForm);
  });
  const feedForm = document.getElementById("feed-form");
  feedForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!library.busy) followFeed(feedForm);
  });
  document.getElementById("feeds").addEventListener("toggle", (event) => {
    if (event.target.open) loadFeeds();
  });
  document.getElementById("feed-list").addEventListener("click", (event) => {
    const li = event.target.closest(".feed");
    if (li && event.target.closest(".feed-remove")) unfollowFeed(li);
  });
  fileInput.addEventListener("change", async () => {
    const files = [...fileInput.files];
    fileInput.value = "";
    if (files.length && !library.busy) await addFiles(files);
  });

  // files dropped anywhere on the panel
  let depth = 0;
  panel.addEventListener("dragenter", (event) => {
    if (!event.dataTransfer || ![...event.dataTransfer.types].includes("Files")) return;
    depth += 1;
    document.getElementById("add-article").open = true;
    zone.classList.add("over");
  });
  panel.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("over");
  });
  panel.addEventListener("dragover", (event) => {
    if (!event.dataTransfer || ![...event.dataTransfer.types].includes("Files")) return;
    event.preventDefault();
    event.stopPropagation();
    event.dataTransfer.dropEffect = library.busy ? "none" : "copy";
  });
  panel.addEventListener("drop", (event) => {
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    event.stopPropagation();
    depth = 0;
    zone.classList.remove("over");
    if (!library.busy) addFiles(event.dataTransfer.files);
  });
});
