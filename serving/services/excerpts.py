"""Document passages cut to the sentences a question needs before they are shown to the model.

A 135M reader given three whole encyclopaedia paragraphs answers from whichever sentence it latches
onto; given each passage's lead (its title and first sentence, which say what it is about) and its
sentences closest to the question, it answers from those. This is an extractive compressor in the
manner of RECOMP's, with the memory's own embedder as the scorer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from serving.services.routing import ABBREVIATIONS

_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])")


def sentences(text: str) -> list[str]:
    """The text's sentences, in order; a period after an initial ("J.", "U.S.") or a title ("Dr.")
    ends none. Unlike ``routing.sentences`` (statements), a passage's title line stays with its first
    sentence, and a sentence ends after its closing quote or bracket."""
    out, start = [], 0
    for m in _END.finditer(text):
        word = re.search(r"(\w+)$", text[start : m.start()])
        if text[m.start()] == "." and word and (
            (len(word.group(1)) == 1 and word.group(1).isupper()) or word.group(1).lower() in ABBREVIATIONS
        ):
            continue
        out.append(text[start : m.end()].strip())
        start = m.end()
    if text[start:].strip():
        out.append(text[start:].strip())
    return out


def excerpt_passages(
    passages: list[dict], question: np.ndarray, encode: Callable[[list[str]], np.ndarray], keep: int
) -> list[dict]:
    """Each passage with its text cut to its first sentence and the ``keep`` - 1 others with the
    highest cosine to the question (unit vector), in their order in the passage; ``keep`` 0 shows
    whole passages. A passage of ``keep`` sentences or fewer is shown whole."""
    if keep <= 0:
        return passages
    split = [sentences(p["text"]) for p in passages]
    rest = [(i, j) for i, parts in enumerate(split) if len(parts) > keep for j in range(1, len(parts))]
    if not rest:
        return passages
    scores = encode([split[i][j] for i, j in rest]) @ question
    best: dict[int, list[tuple[float, int]]] = {}
    for (i, j), score in zip(rest, scores):
        best.setdefault(i, []).append((float(score), j))
    out = []
    for i, p in enumerate(passages):
        if i not in best:
            out.append(p)
            continue
        chosen = sorted([0, *(j for _, j in sorted(best[i], reverse=True)[: keep - 1])])
        out.append(dict(p, text=" ".join(split[i][j] for j in chosen)))
    return out
