"""The Gradio page: components and events (layout.py), their handlers (chat.py), what runs at the
edge of Gradio (edge.py, middleware.py, headers.py, markdown_js.py) and the page's own CSS and JS
(scripts.py).
The only package that imports gradio."""
