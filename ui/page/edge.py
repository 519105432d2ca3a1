"""Where a page event meets Gradio: its inputs checked for files this app did not store, then
pre- and postprocessed by the components' own code."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import gradio as gr
from gradio.data_classes import GradioModel, GradioRootModel

from ui.i18n import say
from ui.page.visitors import refuse, request_language
from ui.paths import FileRefused, Roots


def _value_in(component: gr.components.Component, payload: Any) -> Any:
    model = getattr(component, "data_model", None)
    if model is not None and payload is not None:
        payload = model.model_validate(payload)
    return component.preprocess(payload)


def _checked_values(roots: Roots, inputs: Sequence[gr.components.Component],
                    args: Sequence[Any]) -> list[Any]:
    """An event's input payloads, as the browser or a script sent them, checked for files this
    app did not store (ui/paths.py), then preprocessed by the components' own code. The check
    comes first: Gradio's Chatbot preprocessing copies a file named by a "component" item."""
    try:
        roots.check(list(args[:len(inputs)]))
    except FileRefused:
        request = next((a for a in args[len(inputs):] if isinstance(a, gr.Request)), None)
        raise refuse(say(request_language(request), "file_refused")) from None
    return [_value_in(c, v) for c, v in zip(inputs, args, strict=False)]


def checked(fn: Callable[..., Any], inputs: Sequence[gr.components.Component],
            roots: Roots) -> Callable[..., Any]:
    """`fn` for an event with preprocess=False whose inputs may name files: see _checked_values.
    Every event that takes the chat, the input box or an upload goes through this or
    processed_here, so no path a visitor made up is opened, copied or served."""
    if inspect.isasyncgenfunction(fn):
        @functools.wraps(fn)
        async def wrapper_gen(*args: Any) -> Any:
            async for out in fn(*_checked_values(roots, inputs, args), *args[len(inputs):]):
                yield out
        return wrapper_gen
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def wrapper_async(*args: Any) -> Any:
            return await fn(*_checked_values(roots, inputs, args), *args[len(inputs):])
        return wrapper_async

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        return fn(*_checked_values(roots, inputs, args), *args[len(inputs):])
    return wrapper


def processed_here(fn: Callable[..., AsyncIterator[Any]], inputs: Sequence[gr.components.Component],
                   outputs: Sequence[gr.components.Component],
                   roots: Roots) -> Callable[..., AsyncIterator[Any]]:
    """`fn` for an event with preprocess=False and postprocess=False: its inputs are checked and
    preprocessed (_checked_values) and its outputs postprocessed here, in the event loop, by the
    components' own code; Gradio would postprocess each output in a worker thread. Without this
    the server spends 21 % more CPU per streamed token in the page (0.32 → 0.37 ms, 1,000-token
    answer, fresh chat) and 15 % more after 40 turns (with 11 % fewer screen updates); time to
    first token is the same (bench/internals/internals.py chat, 20 interleaved pairs). Every
    browser chat test exercises it, and
    tests/test_chat_flow.py::test_the_page_gets_each_update_already_in_the_form_its_components_read
    fails if a Gradio upgrade changes what the components read."""

    def value_out(component: gr.components.Component, value: Any) -> Any:
        if isinstance(value, gr.components.Component):  # a property update, maybe with a value
            update = {**value.constructor_args, "__type__": "update"}
            if "value" in update:
                update["value"] = value_out(component, update["value"])
            return update
        if isinstance(value, dict) and value.get("__type__") == "update":
            return value
        value = component.postprocess(value)
        return value.model_dump() if isinstance(value, GradioModel | GradioRootModel) else value

    @functools.wraps(fn)
    async def wrapper(*args: Any) -> AsyncIterator[Any]:
        values = _checked_values(roots, inputs, args)
        sent: dict[int, Any] = {}  # output → the value this run last gave it
        async for update in fn(*values, *args[len(inputs):]):  # then gr.Request
            out = []
            for i, (component, value) in enumerate(zip(outputs, update, strict=True)):
                if i in sent and isinstance(value, dict) and value == SKIP:
                    out.append(sent[i])
                    continue
                value = value_out(component, value)
                if not (isinstance(value, dict) and value.get("__type__") == "update"):
                    sent[i] = value
                out.append(value)
            yield tuple(out)

    return wrapper


# gr.skip() for an output this run already gave a value is that value again: Gradio's stream diff
# sends nothing for it. Passed on as gr.skip(), Gradio 6.31 rebuilds the component and its config
# at every update (a Chatbot ~2.6 ms): with a Compare pane or two still it made each update of a
# two-pane answer ~7 ms longer and the panes' first words 1.08 × the chat's (bench/compare.py).
SKIP = gr.skip()


