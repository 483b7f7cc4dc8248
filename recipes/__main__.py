"""``python -m recipes`` is the ``mtkd`` command (useful under ``torchrun``)."""

import sys

from .cli import main

sys.exit(main())
