"""``python -m qbench``: Python puts the working folder first on sys.path for ``-m``; qbench takes it out
(``py:`` models append it at the end instead), so a ``scipy.py`` there cannot shadow the installed scipy."""

import os
import sys

if sys.path and sys.path[0] in ("", os.getcwd()):
    sys.path.pop(0)

from qbench.cli import main

sys.exit(main())
