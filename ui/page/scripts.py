"""The page's own CSS and JavaScript (run in the visitor's browser, keyed on Gradio's DOM); Gradio's
own English words in the page's language are ui/page/gradio_words.py."""

from __future__ import annotations

import json

from ui.choices import Choices
from ui.page.gradio_words import queue_js, toasts_js
from ui.page.kept_js import SETTINGS_TAB
from ui.records import PROVENANCE_ICON
from ui.sanitize import RESTORE, RESTORED

CSS = """
.stats { color: var(--body-text-color-subdued); font-size: var(--text-sm); min-height: 1.5em; }
.notice { border-left: 3px solid var(--color-accent); padding-left: .75em; }
/* Gradio gives every image in the chat a Share button (it ignores `buttons`), which would upload the
   image to Hugging Face. Its label follows the browser's language, so it is found by its icon too,
   the only one in a message's buttons drawn with svg#icon. */
#chat button[aria-label="Share"], #chat button[title="Share"],
#chat .message-buttons button:has(svg#icon) { display: none !important; }
/* Tables in messages keep their words whole (Gradio broke them anywhere: "qua|rter" on a phone);
   one wider than its bubble scrolls sideways, and on phones cells are padded less, so most fit. */
#chat .message .md:has(> table) { display: block; max-width: 100%; overflow-x: auto; }
#chat .message :is(th, td) { word-break: normal; overflow-wrap: normal; }
@media (max-width: 480px) { #chat .message :is(th, td) { padding: var(--spacing-sm) var(--spacing-md); } }
/* An answer on its way that has not started yet (Stop is shown, the question is the last message):
   three pulsing dots where the answer will appear, in the answer's bubble shape. */
body:has(#chat-input button.stop-button)
  #chat .message-wrap:has(> .message-row.user-row:nth-last-child(2))::after {
  content: "• • •" / ""; display: block; width: fit-content; margin: 20px 20px 10px; padding: 2px 14px;
  border: 1px solid var(--border-color-primary); border-radius: 6px 6px 6px 0;
  background: var(--background-fill-secondary); color: var(--body-text-color-subdued);
  font-size: var(--text-lg); animation: var(--waiting-motion, waiting 1.2s ease-in-out infinite);
}
@keyframes waiting { 50% { opacity: .4; } }
/* Still for visitors who ask for less motion (on #chat: Gradio scopes @media rules to its container) */
@media (prefers-reduced-motion: reduce) { #chat { --waiting-motion: none; } }
/* Every error this page meets already says what happened in its toast; Gradio would also leave a
   red "Error" pill over the event's outputs (the input box, after a refused send) until the next
   event, covering what is typed there. */
[data-testid=status-tracker]:has(> .error) { display: none !important; }
/* Attached images: larger, framed (a white screenshot keeps its edge), each with its file's name
   under it, cut short, and whole on hover (THUMBNAIL_NAMES_JS names them). */
#chat-input .thumbnail-wrapper { display: flex; flex-direction: column; align-items: center; }
#chat-input .thumbnail-item.thumbnail-small { width: 64px; height: 64px;
  border: 1px solid var(--border-color-primary); box-shadow: var(--shadow-drop); }
#chat-input .thumbnail-wrapper[data-name]::after { content: attr(data-name); max-width: 72px;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-size: var(--text-xs);
  line-height: 1.4; color: var(--body-text-color-subdued); }
/* The conversation's tools (ui/page/tools.py), each button as wide as its words */
.tool { min-width: max-content !important; }
/* The pages link to each other by a button at the right of the heading, in the page's language;
   Gradio's navbar (a 50 px bar saying "Home" and "Test" in every language) is not shown. */
.nav-holder { display: none !important; }
.nav-link { flex-grow: 0 !important; min-width: max-content !important; align-self: center; }
/* Compare: the question above the vote buttons, inside their group, off its edge. */
#compare-vote-heading { padding: 10px 12px 2px; }
/* The Test page: its progress bar, the image in focus. */
.test-progress { height: 10px; border-radius: 5px; background: var(--background-fill-secondary);
  border: 1px solid var(--border-color-primary); overflow: hidden; }
.test-progress-fill { height: 100%; background: var(--color-accent); transition: width .3s; }
.test-focus-image { max-width: 100%; max-height: 480px; object-fit: contain;
  border: 1px solid var(--border-color-primary); }
/* Phones: the settings come first, folded behind a Settings button above the chat (SETTINGS_JS);
   wider screens keep them open in their column on the right. */
#settings-button { display: none !important; }
@media (max-width: 640px) {
  #settings-button { display: flex !important; }
  #settings { order: -1; }
  #settings:not([data-open]) { display: none !important; }
  /* Each page's heading over the whole width, its links to the other pages in a line below
     (side by side, the links squeezed the heading to a word per line). */
  .page-heading { flex-wrap: wrap !important; row-gap: 4px !important; }
  .page-heading > :first-child { flex: 1 1 100% !important; min-width: 100% !important; }
}
"""


# The input is disabled while an answer streams, which takes the keyboard focus away from it: give
# it back once the input is enabled again, so the next question can simply be typed. Not when the
# visitor has since clicked into another control, and not on touch screens, where focusing would
# open the on-screen keyboard over the answer.
REFOCUS_JS = """() => {
  if (!matchMedia("(pointer: fine)").matches) return;
  if (document.activeElement && document.activeElement !== document.body) return;
  let frames = 60;
  const refocus = () => {
    const box = document.querySelector("#chat-input textarea");
    if (box && !box.disabled) box.focus({preventScroll: true});
    else if (frames-- > 0) requestAnimationFrame(refocus);
  };
  refocus();
}"""

# The visitor's own key: in BrowserState (stored) when remembered, else in this tab's sessionStorage.
# Stored as {"key": ...}: BrowserState does not write an empty string over a stored one. Keys
# saved by earlier versions are a plain string.
KEY_RESTORE_JS = """(stored) => {
  const tab = sessionStorage.getItem("glm-vision-chat-key-tab");
  if (tab !== null) return [tab, false];
  return [typeof stored === "string" ? stored : (stored && stored.key) || "", true];
}"""
KEY_KEEP_JS = """(key, remember) => {
  if (remember) { sessionStorage.removeItem("glm-vision-chat-key-tab"); return {key}; }
  sessionStorage.setItem("glm-vision-chat-key-tab", key);
  return {key: ""};
}"""

# The choices as the saved dict {"model": ..., "temperature": ...}; restore() reads it back (and
# the {"0": model, "1": temperature, ...} that earlier versions saved).
_NAMES = json.dumps(Choices.names())
# Also kept for this tab alone (sessionStorage): a reload restores this tab's choices, not the
# ones another tab saved last (ui/page/kept_js.py TAB_SETTINGS_JS).
REMEMBER_JS = f"""(...values) => {{
  const choices = Object.fromEntries(values.map((v, i) => [{_NAMES}[i], v]));
  try {{ sessionStorage.setItem({json.dumps(SETTINGS_TAB)}, JSON.stringify(choices)); }} catch {{}}
  return choices;
}}"""


# A conversation export, written by the server on the click: the browser saves it at once, under
# its own name (the FileData Gradio hands an event's js).
DOWNLOAD_JS = """(file) => {
  if (!file || !file.url) return;
  const link = document.createElement("a");
  link.href = file.url;
  link.download = file.orig_name || "";
  document.body.appendChild(link);
  link.click();
  link.remove();
}"""


# On a phone the settings sit above the chat, folded away behind the Settings button (CSS below
# 640 px); this opens and closes them.
SETTINGS_JS = """() => {
  const panel = document.querySelector("#settings");
  const open = !(panel && panel.hasAttribute("data-open"));
  if (panel) panel.toggleAttribute("data-open", open);
  document.querySelector("#settings-button")?.setAttribute("aria-expanded", String(open));
}"""


# Gradio shows an attached image without its name: each thumbnail in the input gets its file's name
# (from the file's URL) for the CSS above to show under it, and as its tooltip.
THUMBNAIL_NAMES_JS = """() => {
  const box = document.querySelector("#chat-input");
  const nameOf = (url) => {
    try { return decodeURIComponent(new URL(url, location.href).pathname.split("/").pop()); }
    catch { return ""; }
  };
  const label = () => box.querySelectorAll(".thumbnail-wrapper").forEach((wrapper) => {
    const image = wrapper.querySelector("img");
    const name = image ? nameOf(image.getAttribute("src") || "") : "";
    if (name && wrapper.dataset.name !== name) {
      wrapper.dataset.name = name;
      wrapper.title = name;
    }
  });
  if (!box) return;
  new MutationObserver(label).observe(box, {childList: true, subtree: true, attributes: true,
                                            attributeFilter: ["src"]});
  label();
}"""


# A text as restore() (ui/sanitize.py) gives it back: the same pattern and table, so the two stay in
# step (tests/test_copy.py also compares them on tricky strings such as `&AMP;LT;`).
RESTORE_JS = (f"(text) => String(text).replace(new RegExp({json.dumps(RESTORE.pattern)}, 'g'), "
              f"(_, name) => ({json.dumps(RESTORED)})[name])")

# Every Chatbot's history holds its messages made inert (`&LT;` for `<`, ui/sanitize.py), and
# Gradio's copy buttons copy the history: the message's copy button and "copy all" would put
# `&LT;b>` on the clipboard. Gradio offers no public way to change what they copy (its `copy` event
# only reports the value, after the fact), so a copy made by one of those buttons is restored on
# its way to the clipboard. Keyed on Gradio 6.31's Chatbot: a message's buttons sit in
# `.message-buttons` inside the `[role=log]` of the messages, "copy all" in the `.top-panel` beside
# it; both write in the click itself, with navigator.clipboard.writeText or, where the page has no
# clipboard API (plain http from another machine), by selecting a hidden textarea and
# execCommand("copy"). Copy buttons of code inside a message (not in `.message-buttons`) copy the
# code as shown and are left alone. If a Gradio upgrade changes any of this, tests/test_copy.py
# fails (test_the_copy_buttons_copy_what_the_model_wrote and its Compare and no-clipboard-API
# siblings).
#
# A message's copy button copies its whole bubble: Gradio writes each note of it as "title\n  content\n"
# and joins the messages with "\n". What a person copies an answer for is the answer, so the notes
# up to the model's note (ui/records.py provenance_message: one line per choice, no blank line;
# in a blind Compare pane, empty), which comes right before the answer, are left out; the thinking
# and notices after it stay. "Copy all" keeps every note: it is the conversation's transcript.
MODEL_NOTE_JS = (r"/(?:^|\n)" + PROVENANCE_ICON + r" [^\n]*\n  (?:- [^\n]*(?:\n- [^\n]*)*)?\n\n/g")
COPY_JS = f"""() => {{
  const restore = {RESTORE_JS};
  const answerOnly = (text) => {{
    const notes = [...text.matchAll({MODEL_NOTE_JS})];
    if (!notes.length) return text;
    const last = notes[notes.length - 1];
    return text.slice(last.index + last[0].length) || text;
  }};
  const fromChatbot = (target) => {{
    const button = target instanceof Element ? target.closest("button") : null;
    if (!button) return "";
    if (button.closest(".message-buttons")?.closest("[role=log]")) return "message";
    const panel = button.closest(".top-panel");
    return panel?.parentElement?.querySelector(":scope > [role=log]") ? "all" : "";
  }};
  let armed = "";  // during the click on a Chatbot's copy button, until the next task
  const copied = (text) => armed === "message" ? answerOnly(restore(text)) : restore(text);
  addEventListener("click", (event) => {{
    armed = fromChatbot(event.target);
    if (armed) setTimeout(() => {{ armed = ""; }});
  }}, true);
  const clipboard = navigator.clipboard;
  if (clipboard && clipboard.writeText) {{
    const write = clipboard.writeText.bind(clipboard);
    clipboard.writeText = (text) => write(armed ? copied(text) : text);
  }}
  document.addEventListener("copy", (event) => {{
    const box = event.target;
    if (!armed || !(box instanceof HTMLTextAreaElement) || !event.clipboardData) return;
    event.clipboardData.setData("text/plain", copied(box.value));
    event.preventDefault();
  }}, true);
}}"""


def page_js(max_upload_mb: float) -> str:
    """The page's own script, run once when it has started: Gradio's words in the page's language,
    named images, the Chatbots' copy buttons copying what was written."""
    return (f"() => {{ ({toasts_js(max_upload_mb)})(); ({queue_js()})(); "
            f"({THUMBNAIL_NAMES_JS})(); ({COPY_JS})(); }}")
