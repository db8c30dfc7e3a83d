"""One form for every way a customer types a question: half width, simplified, lower case, no
punctuation or emoji, so 「退貨怎麼辦？？😭」 and 「退货怎么办」 match alike."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from zhconv import convert, zhconv

# its own loading leaves the dictionary's file open (a ResourceWarning); by path it closes it
zhconv.loaddict(str(Path(zhconv.__file__).with_name("zhcdict.json")))

__all__ = ["normalize"]

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)  # punctuation, spaces, symbols, emoji


def normalize(text: str) -> str:
    """NFKC folds full-width letters, digits and punctuation to half width (ＡＢＣ１２３ -> abc123)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = convert(text, "zh-cn")  # traditional (and Hong Kong/Taiwan variants) to simplified
    return _NOT_WORD.sub(" ", text).strip()
