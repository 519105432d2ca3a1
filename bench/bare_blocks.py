"""The start-up reference: an empty gr.Blocks launched (port from GRADIO_SERVER_PORT).

`gr.Blocks().launch()` written on one line raises AttributeError ('exited') in Gradio 6.31: a Blocks
must be built in a `with` block first, so this is the smallest script that serves a page.
"""

import os

import gradio as gr

with gr.Blocks() as demo:
    pass

demo.launch(server_name="127.0.0.1", server_port=int(os.environ["GRADIO_SERVER_PORT"]))
