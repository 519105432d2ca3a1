"""Gradio's own English words in the page, put in the page's language (run in the visitor's browser,
keyed on Gradio's DOM and its English text): toasts Gradio writes itself, and the queue position at
the input. ui/page/scripts.py's `page_js` runs both once the page has started."""

from __future__ import annotations

import json

from ui.i18n import say

# Gradio's page writes some toasts itself, in English whatever the page's language: every toast's
# title (from its type: gr.Error's title= is not shown by Gradio 6.31), a file over max_file_size
# refused before it uploads, and files of a type an input does not take. This puts our words, in the
# page's language, in their place (a file too big gets the sentence Enter would give).
TOASTS_JS = """() => {
  const all = %s;
  const say = (navigator.language || "en").toLowerCase().startsWith("zh") ? all.zh : all.en;
  const sentences = [
    [/^File\\(s\\) exceed the maximum allowed size of [^:]*: "(.*)"$/,
     (m) => say.too_big.replace("{name}", m[1].split('", "').join(", "))],
    [/^(\\d+) file\\(s\\) were rejected\\. Accepted formats: image$/,
     (m) => say.files_not_images.replace("{count}", m[1]).replace("{count_s}", m[1] === "1" ? "" : "s")],
    [/^Invalid file types?: (.*)\\. Only (image|\\.json) allowed\\.$/,
     (m) => (m[2] === "image" ? say.file_not_image : say.file_not_json).replace("{names}", m[1])],
  ];
  const toastOf = (node) => {  // only toasts are looked into, never the streaming chat
    const element = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    if (!element || !element.closest) return null;
    return element.closest("[data-testid=toast-body]") || element.querySelector("[data-testid=toast-body]");
  };
  const translate = (toast) => {
    const walker = toast && document.createTreeWalker(toast, NodeFilter.SHOW_TEXT);
    for (let text = walker && walker.nextNode(); text; text = walker.nextNode()) {
      const words = text.nodeValue.trim();
      if (text.parentElement.closest(".toast-title")) {
        const title = Object.hasOwn(say.titles, words) && say.titles[words];
        if (title) text.nodeValue = text.nodeValue.replace(words, title);
        continue;
      }
      for (const [english, ours] of sentences) {
        const found = words.match(english);
        if (found) { text.nodeValue = ours(found); break; }
      }
    }
  };
  new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(node => {
    translate(toastOf(node));
  }))).observe(document.body, {childList: true, subtree: true});
  // A file dropped while the page was still starting: its toast is already there.
  document.querySelectorAll("[data-testid=toast-body]").forEach(translate);
}"""


def toasts_js(max_upload_mb: float) -> str:
    """TOASTS_JS with our words for it in English and Chinese; {placeholders} are filled in the page."""
    words = {lang: {"titles": {"Error": say(lang, "toast_error"), "Warning": say(lang, "toast_warning"),
                               "Info": say(lang, "toast_info"), "Success": say(lang, "toast_success")},
                    "too_big": say(lang, "image_upload_too_big", {"name": "{name}", "limit": max_upload_mb}),
                    "files_not_images": say(lang, "files_not_images",
                                            {"count": "{count}", "count_s": "{count_s}"}),
                    "file_not_image": say(lang, "file_not_image", {"names": "{names}"}),
                    "file_not_json": say(lang, "file_not_json", {"names": "{names}"})}
             for lang in ("en", "zh")}
    return TOASTS_JS % json.dumps(words, ensure_ascii=False)


# Gradio's queue position at the input ("queue: 2/5 |", then "processing |": a question waiting on a
# busy server) is in English whatever the page's language: the same in its language (in English,
# nothing to do and nothing watched).
QUEUE_JS = """() => {
  const all = %s;
  const say = (navigator.language || "en").toLowerCase().startsWith("zh") ? all.zh : all.en;
  const box = document.querySelector("#chat-input");
  if (!box || say.same) return;
  const translate = (text) => {
    const found = text.nodeValue.match(/^queue: (\\d+)\\/(\\S+) \\|$/);
    if (found) text.nodeValue = say.queue.replace("{position}", found[1]).replace("{size}", found[2]);
    else if (text.nodeValue === "processing |") text.nodeValue = say.processing;
  };
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return translate(node);
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) translate(text);
  };
  new MutationObserver(records => records.forEach(r => {
    if (r.type === "characterData") translate(r.target);
    else r.addedNodes.forEach(walk);
  })).observe(box, {childList: true, characterData: true, subtree: true});
}"""


def queue_js() -> str:
    """QUEUE_JS with its words in English and Chinese; {placeholders} are filled in the page."""
    gradios = {"queue": "queue: {position}/{size} |", "processing": "processing |"}
    words: dict[str, dict[str, object]] = {}
    for lang in ("en", "zh"):
        ours = {"queue": say(lang, "queue_position", {"position": "{position}", "size": "{size}"}),
                "processing": say(lang, "queue_processing")}
        words[lang] = {**ours, "same": ours == gradios}
    return QUEUE_JS % json.dumps(words, ensure_ascii=False)
