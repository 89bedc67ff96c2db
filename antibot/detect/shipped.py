"""Where the model ``antibot run`` loads by default lives (the one shipped with the package)."""

from __future__ import annotations

import importlib.resources
import sys
from pathlib import Path
from typing import Final

#: The shipped model's file name (its card, report and plots sit beside it).
MODEL_NAME: Final = "antibot-gbt.json"


def find_model(explicit: str | None) -> Path | None:
    """The model to load: ``explicit`` (--model), else the shipped one: the package's data
    (``antibot/models`` in an installed wheel, put there by setup.py from the top-level
    ``models/``), else the source tree's ``models/`` (a checkout or an editable install)."""
    if explicit:
        return Path(explicit)
    packaged = importlib.resources.files("antibot") / "models" / MODEL_NAME
    if isinstance(packaged, Path) and packaged.is_file():  # a wheel installed on disk (not zipped)
        return packaged
    source_tree = Path(__file__).resolve().parent.parent.parent / "models"
    for base in (source_tree, Path(sys.prefix) / "share" / "antibot" / "models"):
        if (base / MODEL_NAME).exists():
            return base / MODEL_NAME
    return None
