"""Passages cut to their lead and the sentences closest to the question."""

from __future__ import annotations

import numpy as np

from memory.embed import HashingEmbedder
from serving.services.excerpts import excerpt_passages, sentences

PASSAGE = ("Tessary Dam\nThe Tessary Dam is a dam on the Orle River. It was built in 1931. "
           "The dam was designed by the engineer Hugo Rennick. Its reservoir is Marrow Lake. "
           "The dam has four gates.")


def test_sentences_end_at_sentence_ends_but_not_after_initials_or_titles():
    text = 'J. R. Smith met Dr. Brown in 1990. "It works," he said! The U.S. Army agreed. Then 3 more'
    assert sentences(text) == ["J. R. Smith met Dr. Brown in 1990.", '"It works," he said!',
                               "The U.S. Army agreed.", "Then 3 more"]
    assert sentences("Tessary Dam\nThe dam is old.")[0] == "Tessary Dam\nThe dam is old."


def test_a_passage_keeps_its_lead_and_the_sentences_closest_to_the_question():
    embedder = HashingEmbedder()
    question = embedder.encode(["Which engineer designed the Tessary Dam?"])[0]
    passages = [{"id": "c1", "text": PASSAGE, "score": 0.5}, {"id": "c2", "text": "Short. Two.", "score": 0.4}]
    cut = excerpt_passages(passages, question, embedder.encode, keep=2)
    assert cut[0] == {"id": "c1", "score": 0.5, "text": "Tessary Dam\nThe Tessary Dam is a dam on the Orle River. "
                      "The dam was designed by the engineer Hugo Rennick."}
    assert cut[1] == passages[1]  # two sentences: shown whole
    assert excerpt_passages(passages, question, embedder.encode, keep=0) == passages
    three = excerpt_passages(passages, question, embedder.encode, keep=3)[0]["text"]
    assert sentences(three)[0].startswith("Tessary Dam") and len(sentences(three)) == 3
    assert three.index("Hugo Rennick") > three.index("Orle River")  # in the passage's order


def test_no_passage_is_encoded_when_none_is_longer_than_kept():
    def encode(texts: list[str]) -> np.ndarray:
        raise AssertionError("nothing to score")

    passages = [{"id": "c1", "text": "One. Two. Three.", "score": 0.5}]
    assert excerpt_passages(passages, np.ones(4), encode, keep=3) == passages
