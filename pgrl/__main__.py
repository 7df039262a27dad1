"""``python -m pgrl``: the ``pgrl`` command."""

import sys

from pgrl.cli import main

if __name__ == "__main__":  # not when a tool imports the module (mkdocstrings inspects the package)
    sys.exit(main())
