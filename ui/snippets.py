"""Copy as code: the last request as a runnable Python (openai SDK) snippet or curl command.

Both reproduce the request exactly (model, messages with the images as sent, parameters, extra
fields), with the key and the endpoint left to the shell: OPENAI_API_KEY and OPENAI_BASE_URL are
read from the environment (a base URL can carry credentials, so it is never written out). Every
value from the request is written as a literal of the snippet's language (Python repr, JSON in a
quoted heredoc), never as code or comment text, so an imported model name cannot add a line.
"""

from __future__ import annotations

import json
from typing import Any

from ui.endpoint import ChatRequest


class _Name(str):
    """A Python identifier to emit as is, not as a string literal."""


def _images_to_names(value: Any, names: dict[str, _Name]) -> Any:
    """A copy of the messages with each image URL replaced by a variable (same URL, same name)."""
    if isinstance(value, dict):
        out = {k: _images_to_names(v, names) for k, v in value.items()}
        if value.get("type") == "image_url" and isinstance(value.get("image_url"), dict):
            url = value["image_url"].get("url")
            if isinstance(url, str) and len(url) > 100:
                name = names.setdefault(url, _Name(f"IMAGE_{len(names) + 1}"))
                out["image_url"] = {**out["image_url"], "url": name}
        return out
    if isinstance(value, list):
        return [_images_to_names(v, names) for v in value]
    return value


def _py(value: Any, level: int) -> str:
    """A Python literal for a JSON value, short ones on one line, long ones one item per line."""
    flat = _py_flat(value)
    if len(flat) + 4 * level <= 100 or not isinstance(value, dict | list) or not value:
        return flat
    pad, inner = "    " * level, "    " * (level + 1)
    if isinstance(value, dict):
        items = [f"{inner}{k!r}: {_py(v, level + 1)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    return "[\n" + "\n".join(f"{inner}{_py(v, level + 1)}," for v in value) + f"\n{pad}]"


def _py_flat(value: Any) -> str:
    if isinstance(value, _Name):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_py_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_py_flat(v) for v in value) + "]"
    return repr(value)  # str (escapes anything unprintable), bool, None, int, float


def to_python(request: ChatRequest) -> str:
    """A runnable script (openai SDK) that sends exactly this request and prints the answer."""
    names: dict[str, _Name] = {}
    body = request.body()
    body["messages"] = _images_to_names(body["messages"], names)
    images = "".join(f"{name} = {url!r}\n" for url, name in names.items())
    kwargs = "".join(f"    {k}={_py(v, 1)},\n" for k, v in body.items())
    return (
        "# Reproduces one request of GLM Vision Chat.\n"
        "# Run: pip install openai; then, with the endpoint and your key,\n"
        "# OPENAI_BASE_URL=<endpoint> OPENAI_API_KEY=<your key> python this_file.py\n"
        "import os\nimport sys\n\nfrom openai import OpenAI\n\n"
        + (images + "\n" if images else "")
        + 'client = OpenAI(api_key=os.environ["OPENAI_API_KEY"],\n'
        '                base_url=os.environ["OPENAI_BASE_URL"], max_retries=0)\n'
        "stream = client.chat.completions.create(\n"
        + kwargs
        + "    stream=True,\n)\n"
        "for chunk in stream:\n"
        "    delta = chunk.choices[0].delta if chunk.choices else None\n"
        "    if delta is None:\n"
        "        continue\n"
        '    reasoning = getattr(delta, "reasoning_content", None)\n'
        "    if reasoning:  # the model's thinking goes to stderr, the answer to stdout\n"
        '        print(reasoning, end="", file=sys.stderr, flush=True)\n'
        "    if delta.content:\n"
        '        print(delta.content, end="", flush=True)\n'
        "print()\n"
    )


_HEREDOC = "GLM_REQUEST_BODY"


def to_curl(request: ChatRequest) -> str:
    """A bash curl command sending exactly this request; the JSON body travels in a quoted heredoc
    (JSON escapes every newline inside a value, so no line of it can end the heredoc)."""
    body = request.body()
    extra = body.pop("extra_body", {})
    payload = {**body, **extra, "stream": True}  # the SDK sends extra_body at the top level
    text = json.dumps(payload, ensure_ascii=False, indent=2)
    return (
        'curl -sS -N "${OPENAI_BASE_URL:?set OPENAI_BASE_URL to the endpoint}/chat/completions" \\\n'
        '  -H "Authorization: Bearer ${OPENAI_API_KEY:?set OPENAI_API_KEY to your key}" \\\n'
        "  -H 'Content-Type: application/json' \\\n"
        f"  --data-binary @- <<'{_HEREDOC}'\n"
        f"{text}\n{_HEREDOC}\n"
    )
