"""``python -m mosaic``: the same command line as the ``mosaic`` script."""

from mosaic.cli import app

if __name__ == "__main__":
    app(prog_name="mosaic")
