"""Images: uploads made into what is sent (payload.py), boxes drawn on them (boxes.py).
The only package that imports PIL."""
