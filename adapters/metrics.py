"""Task scores (exact match, ROUGE-L) and continual-learning summaries (AP, BWT)."""

from __future__ import annotations

import re
import string
from typing import Literal

Metric = Literal["exact_match", "rouge_l", "first_char"]
_PUNCT = str.maketrans("", "", string.punctuation)


def normalise(text: str) -> str:
    return " ".join(text.lower().translate(_PUNCT).split())


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when equal after lower-casing and dropping punctuation and extra spaces."""
    return float(normalise(prediction) == normalise(reference))


def first_char(prediction: str, reference: str) -> float:
    """TRACE's ScienceQA score: the first non-space characters agree."""
    p, r = prediction.strip()[:1], reference.strip()[:1]
    return float(bool(r) and p.upper() == r.upper())


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens (longest common subsequence)."""
    p, r = _tokens(prediction), _tokens(reference)
    if not p or not r:
        return 0.0
    prev = [0] * (len(r) + 1)
    for tp in p:
        cur = [0]
        for j, tr in enumerate(r):
            cur.append(prev[j] + 1 if tp == tr else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


SCORERS = {"exact_match": exact_match, "rouge_l": rouge_l, "first_char": first_char}


def score(metric: Metric, predictions: list[str], references: list[str]) -> float:
    """Mean score in points (0-100)."""
    fn = SCORERS[metric]
    return 100.0 * sum(fn(p, r) for p, r in zip(predictions, references, strict=True)) / max(1, len(references))


def average_performance(matrix: list[list[float]]) -> float:
    """AP: mean over tasks of the score after the last stage; matrix[k][i] = task i after stage k."""
    return sum(matrix[-1]) / len(matrix[-1])


def backward_transfer(matrix: list[list[float]]) -> float:
    """BWT = mean over earlier tasks of (final score - score just after learning it); < 0 is forgetting."""
    t = len(matrix)
    if t < 2:
        return 0.0
    return sum(matrix[-1][i] - matrix[i][i] for i in range(t - 1)) / (t - 1)
