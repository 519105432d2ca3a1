"""The page's own CSS and JavaScript (run in the visitor's browser, keyed on Gradio's DOM)."""

from __future__ import annotations

import json

from ui.choices import Choices
from ui.page.kept_js import SETTINGS_TAB

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

# The settings as the saved dict {"0": model, "1": temperature, ...}; restore() reads it back.
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


# Gradio's page refuses a file over max_file_size before uploading it, in English whatever the
# page's language: this puts our sentence (the one Enter would give) in that toast instead.
OVER_LIMIT_JS = """() => {
  const templates = %s;
  const template = (navigator.language || "en").toLowerCase().startsWith("zh") ? templates.zh : templates.en;
  const english = /^File\\(s\\) exceed the maximum allowed size of [^:]*: "(.*)"$/;
  const toastOf = (node) => {  // only toasts are looked into, never the streaming chat
    const element = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    if (!element || !element.closest) return null;
    return element.closest("[data-testid=toast-body]") || element.querySelector("[data-testid=toast-body]");
  };
  const translate = (toast) => {
    const walker = toast && document.createTreeWalker(toast, NodeFilter.SHOW_TEXT);
    for (let text = walker && walker.nextNode(); text; text = walker.nextNode()) {
      const found = text.nodeValue.trim().match(english);
      if (found) text.nodeValue = template.replace("{name}", found[1].split('", "').join(", "));
    }
  };
  new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(node => {
    translate(toastOf(node));
  }))).observe(document.body, {childList: true, subtree: true});
  // A file dropped while the page was still starting: its toast is already there.
  document.querySelectorAll("[data-testid=toast-body]").forEach(translate);
}"""



