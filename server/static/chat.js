// Chat page: streams answers from /api/chat/stream. Article text and questions are untrusted, so
// everything is put in the page with textContent, never as HTML. Uses common.js (loaded first).
"use strict";

let history = [];
const scope = new Map(); // article id -> title: questions are asked within these only (chips above the input)

function inScope(id) {
  return scope.has(id);
}

// Tick or untick an article ("ask only these"): the chips above the input follow, and each chip's
// remove button unticks it again.
function setInScope(id, title, on) {
  if (on) scope.set(id, title);
  else scope.delete(id);
  const chips = document.getElementById("scope-chips");
  chips.hidden = scope.size === 0;
  chips.replaceChildren(...(scope.size ? [el("span", "muted", "Asking only within:")] : []), ...[...scope].map(([docId, t]) => {
    const chip = el("span", "chip");
    chip.dataset.id = docId;
    const x = el("button", "chip-remove", "\u00d7");
    x.type = "button";
    x.setAttribute("aria-label", "Remove " + quoted(t) + " from the scope");
    chip.append(document.createTextNode(t + " "), x);
    return chip;
  }));
  for (const box of document.querySelectorAll(".doc[data-id] .scope-box")) box.checked = scope.has(box.closest(".doc").dataset.id);
}
const citationsOf = new WeakMap(); // answer bubble -> its citations

// Parse one Server-Sent Events block into {event, data}.
function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  return { event, data: data.length ? JSON.parse(data.join("\n")) : null };
}

function renderAnswer(bubble, answer) {
  bubble.classList.remove("streaming", "draft");
  bubble.replaceChildren();
  if (answer.abstained) {
    bubble.classList.add("abstained");
    bubble.append(el("p", "badge", "Not in the articles"));
  }
  const p = el("p", "answer");
  const parts = answer.answer.split(/(\[\d+\]|\(unverified\))/);
  for (const part of parts) {
    const m = /^\[(\d+)\]$/.exec(part);
    if (part === "(unverified)" && answer.verify === "flag") {
      const flag = el("span", "unverified", part);
      flag.title = "Not supported by the cited articles";
      p.append(flag);
    } else if (m && answer.citations.some((c) => c.id === Number(m[1]))) {
      const b = el("button", "cite", part);
      b.type = "button";
      b.dataset.n = m[1];
      b.setAttribute("aria-label", "Show source " + m[1]);
      p.append(b);
    } else if (part) {
      p.append(document.createTextNode(part));
    }
  }
  bubble.append(p);
  if (answer.scope) bubble.append(el("p", "scope-note muted", "Within " + plural(answer.scope.articles, "chosen article") + "."));
  if (answer.period) bubble.append(el("p", "scope-note muted", "Searched articles dated " + answer.period + " (and undated ones), as the question asks."));
  if (answer.warnings && answer.warnings.length) {
    const list = el("ul", "warnings");
    for (const w of answer.warnings) list.append(el("li", null, w));
    bubble.append(list);
  }
  const removed = answer.verify === "strict" ? answer.unsupported || [] : [];
  if (removed.length) {
    const details = el("details", "removed");
    const n = removed.length;
    details.append(el("summary", null, plural(n, "sentence") + " removed: not supported by " + (n === 1 ? "its" : "their") + " sources"));
    const list = el("ul");
    for (const u of removed) {
      const li = el("li");
      li.append(el("q", null, u.text), document.createTextNode(" — " + u.reason));
      list.append(li);
    }
    details.append(list);
    bubble.append(details);
  }
  citationsOf.set(bubble, answer.citations);
}

// A reopened conversation's turns become the history follow-ups lean on.
function setHistory(turns) {
  history = turns.slice();
  document.getElementById("history").value = JSON.stringify(history);
}

function startDraft(bubble) {
  bubble.classList.add("draft");
  const status = el("p", "status", "Draft: checking each sentence against its source\u2026");
  status.setAttribute("role", "status");
  bubble.append(status);
  return status;
}

function showError(bubble, message) {
  bubble.className = "bubble bot error";
  bubble.setAttribute("role", "alert");
  bubble.replaceChildren(el("strong", null, "Sorry, that did not work. "), document.createTextNode(message));
}

function openSource(citation, fallback) {
  const body = document.getElementById("panel-body");
  document.getElementById("panel-title").textContent = "Source";
  body.replaceChildren();
  if (citation) {
    body.append(titleNode("h3", citation.title, citation.url));
    body.append(el("p", "date", sourceLabel(citation) + " \u00b7 " + dateLabel(citation.published)));
    const qs = citation.start - citation.passage_start;
    const qe = citation.end - citation.passage_start;
    const passage = markedText("passage", citation.passage, qs, qe);
    body.append(passage);
    const whole = el("button", "button secondary whole", "Read the whole article");
    whole.type = "button";
    whole.addEventListener("click", () => openArticle(citation.doc_id, { start: citation.start, end: citation.end }));
    body.append(whole);
  } else if (fallback) {
    body.append(fallback.cloneNode(true));
  }
  setPanel(true);
  const mark = body.querySelector("mark");
  if (mark) mark.scrollIntoView({ block: "center" });
  document.getElementById("panel-close").focus();
}

// One question, streamed into a new turn; false when it was refused or never reached the server
// (the question then goes back in the box, to be sent again).
async function ask(question) {
  const conversation = document.getElementById("conversation");
  const hint = document.getElementById("empty-hint");
  if (hint) hint.remove();
  const turn = el("li", "turn");
  const bubble = el("div", "bubble bot streaming");
  const draft = el("p", "answer");
  bubble.append(draft);
  turn.append(el("p", "bubble user", question), bubble);
  conversation.append(turn);
  turn.scrollIntoView({ block: "end" });

  const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  const modeSelect = document.getElementById("mode");
  const generative = Boolean(modeSelect && modeSelect.value === "generative");
  let res;
  try {
    // follow-ups lean on the latest exchanges only; the server keeps at most the last few turns anyway
    const recent = history.slice(-6);
    const payload = { question, history: recent };
    if (scope.size) payload.filters = { doc_ids: [...scope.keys()] };
    if (modeSelect) payload.mode = modeSelect.value;
    res = await fetch("/api/chat/stream", { method: "POST", headers, body: JSON.stringify(payload) });
  } catch (e) {
    showError(bubble, plainError(0));
    return false;
  }
  if (!res.ok) {
    let error = null;
    try {
      error = (await res.json()).error;
    } catch (e) { /* not our JSON (a proxy's page): the status says enough */ }
    showError(bubble, plainError(res.status, error, "question", Boolean(key)));
    if (res.status === 401 || res.status === 403) focusKey();
    return false;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let finished = false;
  const checked = { kept: 0, removed: 0 };
  let status = null;
  try {
    while (!finished) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = blocks.pop();
      for (const block of blocks) {
        if (!block.trim()) continue;
        const { event, data } = parseEvent(block);
        if (event === "delta") {
          // a generative draft is marked as unchecked from its first word until the verified answer replaces it
          if (generative && !status) status = startDraft(bubble);
          draft.textContent += data.text;
        } else if (event === "sentence") {
          if (!status) status = startDraft(bubble);
          if (data.supported) checked.kept += 1;
          else checked.removed += 1;
          status.textContent = "Checking citations: " + checked.kept + " verified, " + checked.removed + " not supported";
        } else if (event === "done") {
          renderAnswer(bubble, data);
          history.push({ role: "user", content: question }, { role: "assistant", content: data.answer });
          if (typeof saveTurn === "function") saveTurn(question, data); // kept in this browser (conversations.js)
          finished = true;
        } else if (event === "error") {
          showError(bubble, plainError(statusOf(data.error), data.error, "question", Boolean(key)));
          finished = true;
        }
      }
    }
  } catch (e) {
    showError(bubble, "The answer stream broke off. Try again.");
    return;
  }
  if (!finished) showError(bubble, "The answer stream ended before the answer was complete. Try again.");
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("ask");
  const input = document.getElementById("question");
  const send = document.getElementById("send");
  try {
    history = JSON.parse(document.getElementById("history").value); // a page a form post returned
  } catch (e) {
    history = [];
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question || send.disabled) return;
    input.value = "";
    send.disabled = true;
    try {
      if ((await ask(question)) === false) input.value = question; // refused: keep it to send again
    } finally {
      send.disabled = false;
      if (!document.querySelector(".needs-key:focus")) input.focus(); // unless the key is asked for
    }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.getElementById("new-conversation").addEventListener("click", (event) => {
    event.preventDefault();
    history = [];
    document.getElementById("conversation").replaceChildren();
    document.getElementById("history").value = "[]";
    if (typeof startConversation === "function") startConversation();
    setPanel(false);
    input.value = "";
    input.focus();
  });

  document.getElementById("conversation").addEventListener("click", (event) => {
    const cite = event.target.closest(".cite");
    if (!cite) return;
    event.preventDefault();
    const bubble = cite.closest(".bubble");
    const n = Number(cite.dataset.n);
    const citation = (citationsOf.get(bubble) || []).find((c) => c.id === n);
    const anchor = cite.getAttribute("href");
    const target = anchor ? document.querySelector(anchor) : null;
    if (citation || target) openSource(citation, target);
  });

  // articles ticked on the library page without JavaScript (/?doc=...) become this page's scope
  for (const input of document.querySelectorAll('#scope-chips input[name="doc"]')) setInScope(input.value, input.dataset.title, true);
  document.getElementById("scope-chips").addEventListener("click", (event) => {
    const x = event.target.closest(".chip-remove");
    if (!x) return;
    event.preventDefault(); // the page-without-JavaScript's link would reload
    setInScope(x.closest(".chip").dataset.id, "", false);
  });
  document.getElementById("panel-close").addEventListener("click", () => setPanel(false));
  document.addEventListener("keydown", (event) => {
    // Escape closes the reader first; the library panel (library.js) is next
    if (event.key === "Escape" && !document.getElementById("source-panel").hidden) {
      event.stopImmediatePropagation();
      setPanel(false);
    }
  });
  input.focus();
});
