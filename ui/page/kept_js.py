"""The page's JavaScript that keeps conversations in the visitor's browser (no server work).

Each tab has its own current conversation: its id lives in the tab's sessionStorage (a reload keeps
it, another tab has its own), the conversation itself in localStorage under PREFIX + id, so a
closed tab's chat can still be reopened from "Earlier conversations". Saved when a question is sent
(the chat before it and the question, so a reload before the answer ends loses neither), again when
the answer ends, after Undo, Clear, Undo of Clear and import: never per streamed update.
localStorage is private to the browser but not encrypted (like gr.BrowserState, whose secret every
page carries).

Room: all conversations together stay under BUDGET characters (localStorage holds ~5 million per
site), so the settings and a remembered key always fit. When a save would not fit, the oldest other
conversations go first, then the earliest turns of this one; the page says which in a notice.
What comes back from storage is checked on the server (ui/kept.py) before the chat shows it.
"""

from __future__ import annotations

import json

from ui.i18n import say

PREFIX = "glm-vision-chat-conversation:"
TAB = "glm-vision-chat-tab"  # sessionStorage: {"current": id, "cleared": id, "opening": id}
SETTINGS_TAB = "glm-vision-chat-settings-tab"  # sessionStorage: this tab's choices
BUDGET = 3_000_000
MAX_KEPT = 30  # conversations; the oldest beyond go


def _words() -> str:
    """The notices the page writes itself, in both languages (it picks the browser's)."""
    count = {"count": "{count}"}  # filled in the page
    return json.dumps({lang: {"trimmed": say(lang, "kept_trimmed", count),
                              "evicted": say(lang, "kept_evicted", count),
                              "failed": say(lang, "kept_failed"),
                              "untitled": say(lang, "kept_untitled")} for lang in ("en", "zh")},
                      ensure_ascii=False)


_HELPERS = """const K = window.glmKept || (window.glmKept = (() => {
  const PREFIX = %(prefix)s, TAB = %(tab)s, BUDGET = %(budget)d, MAX_KEPT = %(max_kept)d;
  const WORDS = %(words)s;
  const zh = (navigator.language || "en").toLowerCase().startsWith("zh");
  const words = zh ? WORDS.zh : WORDS.en;
  const newId = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  const tab = () => {
    try { return JSON.parse(sessionStorage.getItem(TAB)) || {}; } catch { return {}; }
  };
  const setTab = (t) => { try { sessionStorage.setItem(TAB, JSON.stringify(t)); } catch {} };
  const current = () => {
    const t = tab();
    if (!t.current) { t.current = newId(); setTab(t); }
    return t.current;
  };
  const read = (id) => {
    try { return JSON.parse(localStorage.getItem(PREFIX + id)); } catch { return null; }
  };
  const all = () => {
    const out = [];
    try {
      for (let i = 0; i < localStorage.length; i++) {
        const key = localStorage.key(i);
        if (!key || !key.startsWith(PREFIX)) continue;
        const raw = localStorage.getItem(key) || "";
        let entry = null;
        try { entry = JSON.parse(raw); } catch {}
        out.push({id: key.slice(PREFIX.length), size: key.length + raw.length, entry});
      }
    } catch {}
    return out;
  };
  // The Chatbot's value, only what a reload needs: roles, texts, file paths, metadata.
  const compact = (history) => (Array.isArray(history) ? history : []).map((m) => {
    const items = Array.isArray(m && m.content) ? m.content : [m && m.content];
    const content = items.map((c) =>
      typeof c === "string" ? {type: "text", text: c}
      : c && c.type === "text" ? {type: "text", text: String(c.text)}
      : c && c.type === "file" && c.file && c.file.path ? {type: "file", file: {path: c.file.path}}
      : null).filter(Boolean);
    const out = {role: m && m.role, content};
    const metadata = Object.entries((m && m.metadata) || {})
      .filter(([, v]) => v !== null && v !== undefined);
    if (metadata.length) out.metadata = Object.fromEntries(metadata);
    return out;
  }).filter((m) => m.content.length);
  const titleOf = (history) => {
    for (const m of history) {
      if (m.role !== "user") continue;
      const text = m.content.filter((c) => c.type === "text").map((c) => c.text).join(" ")
        .replace(/&(LT|AMP|QUOT);/g, (_, e) => ({LT: "<", AMP: "&", QUOT: '"'})[e])
        .replace(/\\s+/g, " ").trim();
      return text.length > 60 ? text.slice(0, 59) + "…" : text || words.untitled;
    }
    return words.untitled;
  };
  const drop = (id) => { try { localStorage.removeItem(PREFIX + id); } catch {} };
  // Keep `history` as conversation `id`; returns what had to give way: {trimmed, evicted, failed}.
  const save = (id, history) => {
    const result = {trimmed: 0, evicted: 0, failed: false};
    const entry = {v: 1, saved: Date.now(), title: "", history: compact(history)};
    if (!entry.history.length) { drop(id); return result; }
    entry.title = titleOf(entry.history);
    const others = all().filter((c) => c.id !== id)
      .sort((a, b) => ((a.entry && a.entry.saved) || 0) - ((b.entry && b.entry.saved) || 0));
    while (others.length >= MAX_KEPT) drop(others.shift().id);  // only the most recent are kept
    let used = others.reduce((n, c) => n + c.size, 0);
    for (;;) {
      const text = JSON.stringify(entry);
      if (used + text.length + PREFIX.length + id.length <= BUDGET) {
        try { localStorage.setItem(PREFIX + id, text); return result; } catch {}  // full of other data
      }
      if (others.length) {
        const oldest = others.shift();
        drop(oldest.id); used -= oldest.size; result.evicted++;
        continue;
      }
      const next = entry.history.findIndex((m, i) => i > 0 && m.role === "user");
      if (next <= 0) { drop(id); result.failed = true; return result; }
      result.trimmed += next;
      entry.history = entry.history.slice(next);
    }
  };
  const said = (r) => r.failed ? words.failed
    : [r.trimmed ? words.trimmed.replace("{count}", r.trimmed) : "",
       r.evicted ? words.evicted.replace("{count}", r.evicted) : ""].filter(Boolean).join(" ");
  const notice = (r) => ({__type__: "update", value: said(r), visible: !!said(r)});
  const when = (ms) => {
    const style = {dateStyle: "short", timeStyle: "short"};
    try { return new Date(ms).toLocaleString(navigator.language, style); } catch { return ""; }
  };
  // The "Earlier conversations" dropdown: every kept conversation but this tab's, newest first.
  const earlier = () => {
    const mine = current();
    const choices = all().filter((c) => c.id !== mine && c.entry && Array.isArray(c.entry.history))
      .sort((a, b) => (b.entry.saved || 0) - (a.entry.saved || 0))
      .map((c) => [`${c.entry.title || words.untitled} · ${when(c.entry.saved)}`, c.id]);
    return {__type__: "update", choices, value: null, visible: choices.length > 0};
  };
  const sent = (id) => {
    const e = id && read(id);
    return e && Array.isArray(e.history) ? JSON.stringify(e.history) : "";
  };
  // A question just sent, kept with the chat before it: after a timer, so the request has left
  // first, or as the page goes (a reload at once). The save when the answer ends replaces it and
  // says what the first one evicted (settle).
  let timer = null, pending = null, owed = 0;
  const flush = () => {
    clearTimeout(timer); timer = null;
    const p = pending; pending = null;
    if (p) p();
  };
  const asked = (id, history, question) => {
    flush();
    const conversation = [...(Array.isArray(history) ? history : []), question];
    pending = () => { owed += save(id, conversation).evicted; };
    timer = setTimeout(flush, 0);
  };
  const settle = () => {
    clearTimeout(timer); timer = null; pending = null;
    const n = owed; owed = 0; return n;
  };
  addEventListener("pagehide", flush);
  return {tab, setTab, current, newId, read, save, said, notice, earlier, sent, asked, settle};
})());
"""


def _js(body: str) -> str:
    """`body` (a JS function) with the helpers in front, as Gradio's js= takes it."""
    helpers = _HELPERS % {"prefix": json.dumps(PREFIX), "tab": json.dumps(TAB), "budget": BUDGET,
                          "max_kept": MAX_KEPT, "words": _words()}
    return f"(...args) => {{\n{helpers}  return ({body})(...args);\n}}"


# After an answer, Undo, Retry or a refused question: this tab's conversation saved.
# Outputs: notice, earlier, Undo of Clear.
SAVE_JS = _js("""(history) => {
  const evicted = K.settle(), result = K.save(K.current(), history);
  result.evicted += evicted;
  const t = K.tab();
  if (Array.isArray(history) && history.length && t.cleared) { t.cleared = null; K.setTab(t); }
  return [K.notice(result), K.earlier(), {__type__: "update", visible: !!t.cleared}];
}""")

# After an import: the imported chat is a new conversation; the one before stays in the list.
SAVE_AS_NEW_JS = _js("""(history) => {
  K.settle();
  const t = K.tab();
  t.current = K.newId(); t.cleared = null; K.setTab(t);
  const result = K.save(t.current, history);
  return [K.notice(result), K.earlier(), {__type__: "update", visible: false}];
}""")

# The bin: this tab starts a new conversation; the cleared one is kept, for Undo and the list.
CLEAR_JS = _js("""() => {
  K.settle();
  const id = K.current(), t = K.tab();
  t.current = K.newId(); t.cleared = K.read(id) ? id : null; K.setTab(t);
  return [K.notice({}), K.earlier(), {__type__: "update", visible: !!t.cleared}];
}""")

# Enter pressed or an example chosen: the event's own js=, so it runs before its request and returns
# the inputs unchanged (the input box, the chat, then the choices); the question, as the chat will
# show it (images first, then the text), is kept soon after (K.asked). An empty question is refused
# by the server and kept by no one. It reads the MultimodalTextbox's value as Gradio 6.31's page
# holds it ({text, files: [{path, ...}]}): tests/test_kept.py::
# test_a_question_sent_just_before_a_reload_is_there_after_it fails if an upgrade changes that.
SEND_JS = _js("""(...inputs) => {
  try {
    const [value, history] = inputs;
    const text = String((value && value.text) || "").trim();
    const files = ((value && value.files) || [])
      .map((f) => (typeof f === "string" ? f : f && f.path)).filter(Boolean);
    if (text || files.length) {
      const content = files.map((path) => ({type: "file", file: {path}}));
      if (text) content.push({type: "text", text});
      K.asked(K.current(), history, {role: "user", content});
    }
  } catch {}  // never in the way of the question
  return inputs;
}""")

# Reload: this tab's conversation, sent to the server to be checked and shown ("" if none).
LOAD_JS = _js("""() => [K.sent(K.current())]""")
LIST_JS = _js("""() => [K.earlier()]""")

# Undo of Clear / an earlier conversation chosen: sent to be checked; made current on success.
UNDO_CLEAR_JS = _js("""() => {
  const t = K.tab();
  t.opening = t.cleared; K.setTab(t);
  return [K.sent(t.opening)];
}""")
OPEN_JS = _js("""(id) => { const t = K.tab(); t.opening = id; K.setTab(t); return [null, K.sent(id)]; }""")
OPENED_JS = _js("""() => {
  const t = K.tab();
  if (t.opening) t.current = t.opening;
  t.opening = null; t.cleared = null; K.setTab(t);
  return [K.earlier(), {__type__: "update", visible: false}];
}""")

# The choices: each tab keeps its own while it is open (sessionStorage); the last saved choices
# (gr.BrowserState, localStorage) are where a new tab starts.
TAB_SETTINGS_JS = f"""(saved) => {{
  let mine = null;
  try {{ mine = JSON.parse(sessionStorage.getItem({json.dumps(SETTINGS_TAB)})); }} catch {{}}
  return [mine && typeof mine === "object" ? mine : saved];
}}"""
