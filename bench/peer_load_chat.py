"""The peer: Gradio's own OpenAI-compatible chat, launched as a user would (default queue).

    python bench/peer_load_chat.py BASE_URL MODEL   (port from GRADIO_SERVER_PORT)
"""

import os
import sys

import gradio as gr

gr.load_chat(sys.argv[1], model=sys.argv[2], token="bench-key", file_types="image").launch(
    server_name="127.0.0.1", server_port=int(os.environ["GRADIO_SERVER_PORT"]))
