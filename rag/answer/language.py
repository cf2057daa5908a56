"""Is the question in the language of the passages it would be answered from?

A question in German asked of English articles shares no words with them, so dense
similarity and BM25 return whatever is least unlike it, and an answer would cite
unrelated passages. The question's language and that of each of its best candidate passages
are identified with py3langid (a maintained langid.py, about 0.4 ms a question), among the ``NAMES``
languages (its full model also knows dialects such as Wu Chinese, which people do not need told apart).
A mismatch counts when the identifier is sure of it (``SURE``), or fairly sure (``FAIR``)
while at least half of the question's content words are unknown to the corpus. Measured:
no false mismatch among the 941 English questions of realtimeqa-dev, realtimeqa-2023h1 and
tests/data (short English questions are often identified as something else at low confidence,
and their words are known). A corpus that holds articles in the question's language answers it:
one of the best candidates is then in that language.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from rag.schema import Hit, Refusal

SURE = 0.9
FAIR = 0.5
PASSAGES = 5  # the best candidates: when none is in the question's language, the question is in the wrong one
SAMPLE_CHARS = 3000
NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
         "nl": "Dutch", "pl": "Polish", "ru": "Russian", "uk": "Ukrainian", "zh": "Chinese", "ja": "Japanese",
         "ko": "Korean", "ar": "Arabic", "tr": "Turkish", "sv": "Swedish", "da": "Danish", "no": "Norwegian",
         "fi": "Finnish", "cs": "Czech", "el": "Greek", "he": "Hebrew", "hi": "Hindi", "id": "Indonesian",
         "vi": "Vietnamese", "ro": "Romanian", "hu": "Hungarian", "fa": "Persian", "th": "Thai"}
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    with _lock:
        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        identifier.set_languages([code for code in NAMES if code in identifier.nb_classes])
        return identifier


def identify(text: str) -> tuple[str, float]:
    """The ISO 639-1 code of ``text``'s language and the identifier's probability for it."""
    code, probability = _identifier().classify(text)
    return str(code), float(probability)


def name(code: str) -> str:
    return NAMES.get(code, f"the language coded “{code}”")


def mismatch(question: str, candidates: Sequence[Hit], unknown_share: float) -> Refusal | None:
    """A Refusal when ``question`` is in another language than its best ``candidates`` (see the module docstring).
    ``unknown_share`` is the share of the question's content words that the corpus never uses."""
    samples = [h.passage.text[:SAMPLE_CHARS] for h in candidates[:PASSAGES] if h.passage.text.strip()]
    if not samples:
        return None
    asked, sure = identify(question)
    if sure < FAIR or (sure < SURE and unknown_share < 0.5):
        return None
    found = [identify(sample)[0] for sample in samples]
    if asked in found:
        return None
    corpus = found[0]
    return Refusal("language", f"The question looks {name(asked)}, but the passages that come closest to it are "
                   f"in {name(corpus)}. Ask in {name(corpus)}: the answer quotes the articles in their own language.")
