// Conversations kept in this browser (localStorage): no server state, so any server of several can
// answer any request. Each finished answer is saved with its question; the list reopens, renames,
// deletes and exports one (Markdown with the quotes, their sources, dates and links). Uses common.js;
// chat.js calls saveTurn() and startConversation().
"use strict";

const STORE_KEY = "news-qa.conversations";
const conversations = { current: null };

function loadAll() {
  try {
    const all = JSON.parse(localStorage.getItem(STORE_KEY) || "[]");
    return Array.isArray(all) ? all : [];
  } catch (e) {
    return [];
  }
}

function saveAll(all) {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(all));
    return true;
  } catch (e) {
    return false; // storage full or disabled: the conversation still works, it is just not kept
  }
}

function startConversation() {
  conversations.current = null;
  renderConversationList();
}

function saveTurn(question, answer) {
  const all = loadAll();
  let convo = all.find((c) => c.id === conversations.current);
  const now = new Date().toISOString();
  if (!convo) {
    convo = { id: "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 6), title: question.slice(0, 80),
      created: now, turns: [] };
    all.unshift(convo);
    conversations.current = convo.id;
  }
  convo.turns.push({ question, answer });
  convo.updated = now;
  saveAll(all);
  renderConversationList();
}

function reopenConversation(id) {
  const convo = loadAll().find((c) => c.id === id);
  if (!convo) return;
  conversations.current = id;
  const list = document.getElementById("conversation");
  list.replaceChildren();
  const hint = document.getElementById("empty-hint");
  if (hint) hint.remove();
  const turns = [];
  for (const t of convo.turns) {
    const turn = el("li", "turn");
    const bubble = el("div", "bubble bot");
    turn.append(el("p", "bubble user", t.question), bubble);
    list.append(turn);
    renderAnswer(bubble, t.answer);
    turns.push({ role: "user", content: t.question }, { role: "assistant", content: t.answer.answer });
  }
  setHistory(turns);
  setPanel(false);
  renderConversationList();
}

function conversationMarkdown(convo) {
  const lines = ["# " + convo.title, "", "_" + plural(convo.turns.length, "question") + ", " + (convo.updated || convo.created).slice(0, 10) + "_", ""];
  for (const t of convo.turns) {
    lines.push("**Q:** " + t.question, "", t.answer.answer, "");
    for (const c of t.answer.citations || []) {
      const where = sourceLabel(c) + " \u00b7 " + dateLabel(c.published);
      const link = c.url && safeUrl(c.url) ? " <" + c.url + ">" : "";
      lines.push("[" + c.id + "] \u201c" + c.quote.replace(/\s+/g, " ") + "\u201d \u2014 " + c.title + " (" + where + ")" + link);
    }
    lines.push("");
  }
  return lines.join("\n");
}

function exportConversation(id) {
  const convo = loadAll().find((c) => c.id === id);
  if (!convo) return;
  const blob = new Blob([conversationMarkdown(convo)], { type: "text/markdown" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = (convo.title.replace(/[^\w\- ]+/g, "").trim().replace(/\s+/g, "-").slice(0, 60) || "conversation") + ".md";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function renameConversation(id, title) {
  const all = loadAll();
  const convo = all.find((c) => c.id === id);
  if (!convo || !title.trim()) return;
  convo.title = title.trim().slice(0, 200);
  saveAll(all);
  renderConversationList();
}

function deleteConversation(id) {
  saveAll(loadAll().filter((c) => c.id !== id));
  if (conversations.current === id) conversations.current = null;
  renderConversationList();
}

function renderConversationList() {
  const list = document.getElementById("conversation-list");
  if (!list) return;
  const all = loadAll();
  document.getElementById("conversations-count").textContent = all.length ? " (" + all.length + ")" : "";
  if (!all.length) {
    list.replaceChildren(el("li", "empty", "Conversations you have are kept here, in this browser only."));
    return;
  }
  list.replaceChildren(...all.map((c) => {
    const li = el("li", "convo" + (c.id === conversations.current ? " current" : ""));
    li.dataset.id = c.id;
    const open = el("button", "link-button convo-open", c.title);
    open.type = "button";
    const meta = el("span", "muted", " " + plural(c.turns.length, "question") + " \u00b7 " + (c.updated || c.created).slice(0, 10));
    const actions = el("span", "convo-actions");
    for (const [cls, label] of [["convo-rename", "Rename"], ["convo-export", "Export"], ["convo-delete", "Delete"]]) {
      const b = el("button", "link-button " + cls, label);
      b.type = "button";
      b.setAttribute("aria-label", label + " \u201c" + c.title + "\u201d");
      actions.append(b);
    }
    li.append(open, meta, actions);
    return li;
  }));
}

document.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("conversation-list");
  if (!list) return;
  document.getElementById("conversations").hidden = false; // without JavaScript there is nothing to keep
  renderConversationList();
  list.addEventListener("click", (event) => {
    const li = event.target.closest(".convo");
    if (!li) return;
    const id = li.dataset.id;
    if (event.target.closest(".convo-open")) reopenConversation(id);
    else if (event.target.closest(".convo-export")) exportConversation(id);
    else if (event.target.closest(".convo-delete")) deleteConversation(id);
    else if (event.target.closest(".convo-rename")) {
      const open = li.querySelector(".convo-open");
      const input = el("input", "convo-title");
      input.value = open.textContent;
      input.setAttribute("aria-label", "New name");
      open.replaceWith(input);
      input.focus();
      input.select();
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") renameConversation(id, input.value);
        else if (e.key === "Escape") renderConversationList();
      });
      input.addEventListener("blur", () => renameConversation(id, input.value));
    }
  });
});
