"""The `glm-vision-chat` command: alone it serves the app as `python app.py` does; `batch` runs a
test set from the command line (ui/testing/batch.py) without loading the page."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["batch"]:
        from ui.testing.batch import main as batch

        return batch(args[1:])
    if args and args[0] not in ("serve",):
        print("usage: glm-vision-chat [serve] | glm-vision-chat batch --help", file=sys.stderr)
        return 2
    import app  # builds the page, as Hugging Face Spaces does

    app.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
