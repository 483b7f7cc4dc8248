"""What differs between the transformers majors mtkd supports (4.57 and 5.x), in one place."""

from __future__ import annotations

import transformers
from packaging.version import Version

TRANSFORMERS_MAJOR = Version(transformers.__version__).major
