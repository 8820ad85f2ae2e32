"""Token-by-token decoding on the shared model, with sampling and stop strings.

A small loop over the KV cache rather than ``model.generate``: it streams text as it decodes,
holds back text that might be the start of a stop string, and counts tokens for ``usage``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import functools
import inspect
import math

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.generation.logits_process import UnbatchedClassifierFreeGuidanceLogitsProcessor

from editing.gate import rows_outside

from .errors import InvalidInputError


MIN_TEMPERATURE = 1e-3
"""Smallest temperature above 0 (0 is greedy); below it the scaled logits overflow."""
MIN_TOP_P = 1e-3
"""Smallest top_p."""


@dataclass(frozen=True)
class Guidance:
    """Context-aware decoding (Shi et al., 2023): each token's log-probability given the grounded
    prompt is pushed away from its log-probability given ``plain_ids``, the same conversation without
    the grounding, so that what the grounding adds outweighs the model's prior:
    ``scale * log p(y | grounded) - (scale - 1) * log p(y | plain)``. Only tokens within
    ``plausibility`` of the grounded prompt's best token may be chosen (the adaptive plausibility
    constraint of contrastive decoding), so the contrast cannot promote tokens neither prompt wants.
    The contrast picks words, not the pieces inside one: when the grounded prompt's best token goes on
    with the word in progress, it is followed as it is ("Ostr|ander" copied from a fact was spelled
    "Ostr|ader", because the plain prompt happened to like "ander").

    Fact copying: ``copy_from`` holds the shown facts' token ids, each with the index where its object
    starts. Once the answer's last ``copy_min`` (or more) tokens restate a fact up to its object, or
    into it, the fact's next token is chosen: an answer that has said "The capital of Germany is"
    goes on with the fact's object, not with the model's prior "Berlin", and spells the object as the
    fact does. Words before the object are never copied, so an answer that words the relation its
    own way is left to the contrast.

    Word spelling: an answer whose last tokens restate a fact's start past its first word, up to a word
    in progress before the object, finishes that word as the fact spells it. A weight edit of an
    invented person bends the name the fact spells: "Tariq Nas|ser" came out "Tariq Nas|ion".

    Subject-anchored copying: ``anchored`` holds facts that answer the question, each as its
    sentence's token ids at the start of an answer and the index where its subject ends. An answer
    that so far is that sentence's start, through the subject at least, goes on with the sentence:
    "Mira Kettering" continues " works for Ambercott Logistics.", not " is a logistics company".

    Answer substitution: ``answer`` holds the token ids (after a space) of the one object the question
    asks for, reached from a subject the question names. Until the answer has named it, a capitalised
    word that neither the question nor a fact of the chain holds (``foreign``), chosen anywhere but at a
    sentence's start (after a ``breaks`` token), is replaced by that object, and the object is spelled
    out: "The CEO of the developer of Visual Basic Script was born in the United States" becomes
    "… born in Antarctica" when the facts chain Visual Basic Script to Antarctica. A foreign name
    before the sentence's first verb (``verbs``) stands where the question's subject belongs: it
    becomes ``subject``, the chain's first subject ("The capital of the United States" asked about
    India reads "The capital of India"), unless the sentence holds it already. Chain closing:
    ``closing`` holds the chain's last fact's sentence and ``chain_subjects`` the token ids of the
    chain's subjects. An answer that ends a sentence without the object, having named a subject of
    the chain, goes on with that sentence: "The CEO of Frontier Developments was born in Nigeria."
    goes on with "Nigeria is located in the continent of Antarctica.", and "The CEO of BlackBerry."
    with "The capital of United States of America is Harrisville." (the links between would spend
    the answer's tokens before it names the object). An answer that would end (``end``) before it names
    the object goes on with that sentence too: "Lindqvist." with " Lindqvist Marine was founded by Axel
    Lindqvist." (the contrast can favour the end of sequence over the fact's words).
    """

    plain_ids: list[int]
    scale: float = 2.0
    plausibility: float = 0.1
    copy_from: tuple[tuple[tuple[int, ...], int], ...] = ()
    copy_min: int = 3
    anchored: tuple[tuple[tuple[int, ...], int], ...] = ()
    answer: tuple[int, ...] = ()
    foreign: torch.Tensor | None = field(default=None, compare=False)
    breaks: torch.Tensor | None = field(default=None, compare=False)
    closing: tuple[int, ...] = ()
    chain_subjects: tuple[tuple[int, ...], ...] = ()
    subject: tuple[int, ...] = ()
    verbs: torch.Tensor | None = field(default=None, compare=False)
    end: int | None = None
    """The token that ends the answer (end of sequence) once it holds ``answer`` and a sentence
    break after it; None: the answer goes on."""
    answer_start: tuple[int, ...] = ()
    """``answer`` as the answer's first tokens (no space before it): "Axel Lindqvist." names it too."""
    pieces: tuple[str, ...] | None = field(default=None, compare=False)
    """The vocabulary's token strings (:func:`token_pieces`), so that an anchored subject may be
    spelled in other tokens than its source's, and a word in progress is known (:func:`spelled_token`)."""


@functools.lru_cache(maxsize=4)
def token_pieces(tokenizer: PreTrainedTokenizerBase) -> tuple[str, ...]:
    """Per token id: the token's string in the vocabulary (byte-level or "▁" marked): two token
    sequences spell the same text when their strings join to the same string."""
    return tuple(p or "" for p in tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))))


@functools.lru_cache(maxsize=4)
def continues_word(tokenizer: PreTrainedTokenizerBase) -> torch.Tensor:
    """Per token id: whether the token goes on with the word before it (no leading space marker, a
    letter or digit first), as "nder" in "ĠO|stra|nder". A vocabulary without space markers (whole
    words) has no such tokens."""
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    if not any(p and p[0] in "Ġ▁" for p in pieces):
        return torch.zeros(len(pieces), dtype=torch.bool)
    return torch.tensor([bool(p) and p[0] not in "Ġ▁" and p[0].isalnum() for p in pieces])


@functools.lru_cache(maxsize=4)
def name_starts(tokenizer: PreTrainedTokenizerBase) -> torch.Tensor:
    """Per token id: whether the token starts a new word with a capital letter (" Berlin", " U" of
    " U.S."); none in a vocabulary without space markers."""
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return torch.tensor([len(p) > 1 and p[0] in "Ġ▁" and p[1].isupper() for p in pieces])


@functools.lru_cache(maxsize=4)
def sentence_breaks(tokenizer: PreTrainedTokenizerBase) -> torch.Tensor:
    """Per token id: whether a capitalised word after it may start a sentence or a line (". ", ":")."""
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return torch.tensor([p.rstrip("Ġ▁").endswith((".", "!", "?", ":", '"')) or "Ċ" in p or "\n" in p
                         for p in pieces])


def _named(generated: Sequence[int], guidance: Guidance) -> bool:
    """The answer names the asked object: anywhere after a space, or as its first tokens."""
    start = guidance.answer_start
    return _holds(generated, guidance.answer) or bool(start) and tuple(generated[: len(start)]) == start


def _holds(generated: Sequence[int], ids: tuple[int, ...]) -> bool:
    n = len(ids)
    return any(tuple(generated[i:i + n]) == ids for i in range(len(generated) - n + 1))


def _next_of(tail: Sequence[int], ids: tuple[int, ...], starts_ok=lambda at: True) -> int | None:
    """``ids[k]`` for the longest k (1 <= k < len(ids)) with ``tail`` ending in ``ids[:k]`` at an
    index ``starts_ok`` accepts; None when there is none."""
    n = len(tail)
    for k in range(min(len(ids) - 1, n), 0, -1):
        if tuple(tail[n - k:]) == ids[:k] and starts_ok(n - k):
            return ids[k]
    return None


def answer_token(generated: Sequence[int], guidance: Guidance) -> int | None:
    """The next token of ``guidance.answer`` when the generated tokens end with its first k (but not
    all) and do not hold it whole yet; None otherwise."""
    if len(guidance.answer) < 2 or _holds(generated, guidance.answer):
        return None
    return _next_of(generated, guidance.answer)


def _after_break(generated: Sequence[int], at: int, guidance: Guidance) -> bool:
    """Whether the generated token before index ``at`` ends a sentence (``guidance.breaks``)."""
    return (guidance.breaks is not None and 0 < at <= len(generated)
            and generated[at - 1] < len(guidance.breaks) and bool(guidance.breaks[generated[at - 1]]))


def _answered(generated: Sequence[int], guidance: Guidance) -> bool:
    """The answer has named ``guidance.answer`` and its last token ends a sentence."""
    return (bool(guidance.answer) and _after_break(generated, len(generated), guidance)
            and _holds(generated, guidance.answer))


def closing_token(generated: Sequence[int], guidance: Guidance) -> int | None:
    """The next token of a chain closing (see :class:`Guidance`): one in progress since a sentence
    break, or, right after a break when the answer holds a chain subject, its first; None once the
    answer holds ``guidance.answer``."""
    if not guidance.closing or _holds(generated, guidance.answer):
        return None
    token = _next_of(generated, guidance.closing, lambda at: _after_break(generated, at, guidance))
    if token is not None:
        return token
    if _after_break(generated, len(generated), guidance) and any(
            subject and _holds(generated, subject) for subject in guidance.chain_subjects):
        return guidance.closing[0]
    return None


def _sentence(generated: Sequence[int], guidance: Guidance) -> Sequence[int]:
    """The generated tokens since the last sentence break."""
    at = len(generated)
    while at > 0 and not _after_break(generated, at, guidance):
        at -= 1
    return generated[at:]


def _in_subject(generated: Sequence[int], guidance: Guidance) -> bool:
    """Whether the sentence in progress is still before its first verb and lacks ``guidance.subject``."""
    sentence = _sentence(generated, guidance)
    return (bool(guidance.subject) and guidance.verbs is not None and not _holds(sentence, guidance.subject)
            and not any(t < len(guidance.verbs) and guidance.verbs[t] for t in sentence))


def subject_token(generated: Sequence[int], guidance: Guidance) -> int | None:
    """The next token of ``guidance.subject`` when the sentence in progress ends with its first k
    (but not all) tokens and does not hold it whole; None otherwise."""
    subject, sentence = guidance.subject, _sentence(generated, guidance)
    if len(subject) < 2 or not guidance.answer or _holds(generated, guidance.answer) or _holds(sentence, subject):
        return None
    return _next_of(sentence, subject)


def _substitutes(token: int, generated: Sequence[int], guidance: Guidance) -> bool:
    """Whether answer substitution replaces the chosen ``token`` (see :class:`Guidance`)."""
    return (bool(guidance.answer) and guidance.foreign is not None and guidance.breaks is not None
            and len(generated) > 0 and token < len(guidance.foreign) and bool(guidance.foreign[token])
            and not _after_break(generated, len(generated), guidance) and not _holds(generated, guidance.answer))


def copied_token(
    generated: Sequence[int], sources: tuple[tuple[tuple[int, ...], int], ...], min_match: int
) -> int | None:
    """The token at ``ids[end]``, ``end >= start``, of a source ``(ids, start)`` whose tokens before
    ``end`` the last ``min_match`` or more generated tokens repeat (the longest such match wins); None
    when there is none or ``min_match`` < 1."""
    if min_match < 1 or len(generated) < min_match:
        return None
    best, best_len = None, 0
    for ids, start in sources:
        for end in range(max(start, min_match), len(ids)):
            length = 0
            while length < min(end, len(generated)) and ids[end - 1 - length] == generated[-1 - length]:
                length += 1
            if length >= min_match and length > best_len:
                best, best_len = ids[end], length
    return best


def spelled_token(
    generated: Sequence[int], sources: tuple[tuple[tuple[int, ...], int], ...], pieces: Sequence[str] | None
) -> int | None:
    """The next token of a word in progress that the answer's last tokens spell as a source ``(ids,
    start)`` begins, past its first word and before ``start`` (``Guidance.copy_from``): a shown fact's
    subject is finished as the fact spells it ("Helga Str|om", not the edited "Helga Str|oss"); None
    when no source's start ends the answer so. A source without a leading space counts from the
    answer's first token only."""
    if pieces is None:
        return None
    for ids, start in sources:
        for n in range(min(start, len(generated)), 1, -1):
            if tuple(generated[-n:]) == ids[:n] and (n == len(generated) or pieces[ids[0]][:1] in ("Ġ", "▁")) \
                    and _finishes_word(ids, n, pieces):
                return ids[n]
    return None


def anchored_token(generated: Sequence[int], anchored: tuple[tuple[tuple[int, ...], int], ...],
                   pieces: Sequence[str] | None = None) -> int | None:
    """The next token of the first source ``(ids, subject_end)`` whose first ``len(generated)``
    tokens, ``subject_end`` or more, are the generated ones; None when there is none. With the
    vocabulary's token strings (``pieces``), the subject may be spelled in other tokens than the
    source's ("No|or" for "N|oor"): the answer's first tokens that spell it count as its ids."""
    n = len(generated)
    for ids, subject_end in anchored:
        if subject_end <= n < len(ids) and tuple(generated) == ids[:n]:
            return ids[n]
        spelled = _spelled(generated, ids[:subject_end], pieces) if pieces is not None else None
        if spelled is not None:
            rest = tuple(generated[spelled:])
            at = subject_end + len(rest)
            if at < len(ids) and rest == ids[subject_end:at]:
                return ids[at]
    return None


def _finishes_word(ids: Sequence[int], n: int, pieces: Sequence[str]) -> bool:
    """Whether ``ids[n]`` goes on with a word that began after the first word of ``ids``."""
    if any(t >= len(pieces) for t in ids[: n + 1]):
        return False
    word_starts = [i for i in range(1, n) if pieces[ids[i]][:1] in ("Ġ", "▁")]
    return bool(word_starts) and pieces[ids[n]][:1] not in ("Ġ", "▁") and pieces[ids[n]][:1].isalnum()


def _spelled(generated: Sequence[int], head: Sequence[int], pieces: Sequence[str]) -> int | None:
    """How many of the generated tokens spell the same text as ``head``; None when none do."""
    if any(t >= len(pieces) for t in head):
        return None
    text, spelled = "".join(pieces[t] for t in head), ""
    for k, token in enumerate(generated, 1):
        if token >= len(pieces):
            return None
        spelled += pieces[token]
        if spelled == text:
            return k
        if not text.startswith(spelled):
            return None
    return None


def contrast(
    grounded: torch.Tensor, plain: torch.Tensor, guidance: Guidance, continues: torch.Tensor,
    generated: Sequence[int] = (),
) -> torch.Tensor:
    """Next-token scores under ``guidance``, from the grounded and the plain prompt's logits
    (vocabulary,) and the tokens generated so far; ``continues``: :func:`continues_word` of the
    tokenizer (on the CPU: only the best token's entry is read)."""
    vocabulary = grounded.shape[-1]
    # an answer that has named the asked object and ended its sentence ends; else a chain closing or a
    # substituted name in progress goes before fact copying, which would end "The capital of Tang
    # Empire" with the "." of another fact, "… is a citizen of Tang Empire."
    copy = guidance.end if guidance.end is not None and _answered(generated, guidance) else None
    if copy is None:
        copy = anchored_token(generated, guidance.anchored, guidance.pieces)
    if copy is None:
        copy = closing_token(generated, guidance)
    if copy is None:
        copy = answer_token(generated, guidance)
    if copy is None:
        copy = subject_token(generated, guidance)
    if copy is None:
        copy = copied_token(generated, guidance.copy_from, guidance.copy_min)
    if copy is None:
        copy = spelled_token(generated, guidance.copy_from, guidance.pieces)
    if copy is None or copy >= vocabulary:
        g = torch.log_softmax(grounded.float(), dim=-1)
        best = int(g.argmax())
        if best < len(continues) and continues[best]:
            scores = g
        else:
            u = torch.log_softmax(plain.float(), dim=-1)
            scores = (guidance.scale * (g - u) + u).masked_fill(g < g.max() + math.log(guidance.plausibility),
                                                                float("-inf"))
        best = int(scores.argmax())
        if best == guidance.end and guidance.closing and not _named(generated, guidance):
            copy = guidance.closing[0]  # "Lindqvist." would end without the founder: the fact's sentence follows
        elif not _substitutes(best, generated, guidance):
            return scores
        else:
            copy = (guidance.subject if _in_subject(generated, guidance) else guidance.answer)[0]
        if copy >= vocabulary:
            return scores
    chosen = torch.full(grounded.shape, float("-inf"), device=grounded.device)
    chosen[copy] = 0.0
    return chosen


class _Contrast:
    """The guidance of one decode: transformers' unbatched classifier-free guidance runs the plain
    prompt on its own KV cache (on every step, so that cache stays in step)."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, guidance: Guidance,
                 device: torch.device) -> None:
        plain = torch.tensor([guidance.plain_ids], device=device)
        self._plain = UnbatchedClassifierFreeGuidanceLogitsProcessor(guidance.scale, model, plain)
        self._guidance = guidance
        self._continues = continues_word(tokenizer)

    def __call__(self, last_token: torch.Tensor, logits: torch.Tensor, generated: Sequence[int]) -> torch.Tensor:
        """``logits``: the grounded prompt's next-token logits (vocabulary,); ``last_token``: (1, 1)."""
        plain = self._plain.get_unconditional_logits(last_token)[0, -1]
        return contrast(logits, plain, self._guidance, self._continues, generated)


@dataclass
class SamplingParams:
    max_tokens: int = 256
    temperature: float = 1.0
    """0 means greedy decoding."""
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    guidance: Guidance | None = None
    """Set by the chat service on grounded prompts, never by a request."""
    edits: bool = True
    """False: decode outside the applied weight edits (``editing.gate.rows_outside``; only where the
    edit gate is on). Set by the chat service for a question about no edited subject."""

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise InvalidInputError("max_tokens must be at least 1")
        if not (self.temperature == 0.0 or MIN_TEMPERATURE <= self.temperature <= 2.0):
            raise InvalidInputError(f"temperature must be 0 (greedy) or between {MIN_TEMPERATURE} and 2")
        if not MIN_TOP_P <= self.top_p <= 1.0:
            raise InvalidInputError(f"top_p must be between {MIN_TOP_P} and 1")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise InvalidInputError("seed must be in [0, 2**63)")
        if len(self.stop) > 4 or any(not s for s in self.stop):
            raise InvalidInputError("stop takes at most 4 non-empty strings")


@dataclass
class Piece:
    """A chunk of decoded text; the last one carries ``finish_reason``."""

    text: str
    finish_reason: str | None = None
    completion_tokens: int = 0


def sample_token(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None) -> int:
    """The next token from one row of logits (vocabulary,): greedy at temperature 0, else top-p sampling."""
    if params.temperature == 0.0:
        return int(logits.argmax())
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(-1) - sorted_probs < params.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


def stop_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = model.generation_config.eos_token_id
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


class TextStream:
    """The text of one decode as its tokens come: holds back text that might be the start of a stop
    string and text that ends inside a multi-byte character; ``done`` once a stop string was found."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stop: list[str]) -> None:
        self.tokenizer = tokenizer
        self.stop = stop
        self.holdback = max((len(s) for s in stop), default=1) - 1
        self.generated: list[int] = []
        self.emitted = 0
        self.done = False

    def push(self, token: int) -> Piece | None:
        """Add a generated (non-eos) token; the text that is now safe to show, if any."""
        self.generated.append(token)
        text = self.tokenizer.decode(self.generated, skip_special_tokens=True)
        emitted = self.emitted
        cut = min((i for s in self.stop if (i := text.find(s, max(emitted - len(s), 0))) >= 0), default=-1)
        if cut >= 0:
            self.done = True
            return Piece(text[emitted:cut], "stop", len(self.generated))
        if text.endswith("\ufffd"):  # an incomplete multi-byte character: wait for the rest
            return None
        ready = len(text) - self.holdback
        if ready > emitted:
            self.emitted = ready
            return Piece(text[emitted:ready], None, len(self.generated))
        return None

    def finish(self, reason: str) -> Piece:
        """The last piece: whatever was held back, with ``finish_reason``."""
        self.done = True
        text = self.tokenizer.decode(self.generated, skip_special_tokens=True)
        return Piece(text[self.emitted:], reason, len(self.generated))


def last_logits_only(model: PreTrainedModel) -> dict[str, int]:
    """The forward keyword that makes a prefill compute the last position's logits only, where the
    model takes it (the vocabulary projection of every prompt token was 6 % of batched extraction,
    and 1.3 GB for 16 OpenIE prompts); empty where it does not."""
    return {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}


def decode_stream(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    input_ids: list[int],
    params: SamplingParams,
) -> Iterator[Piece]:
    """Yield text pieces of one prompt decoded alone; the caller holds the model's read lock.
    (The server batches concurrent requests in ``serving.core.batch``; this is the reference.)"""
    device = next(model.parameters()).device
    generator = None
    if params.seed is not None:
        generator = torch.Generator(device="cpu").manual_seed(params.seed)
    eos = stop_token_ids(model, tokenizer)
    text = TextStream(tokenizer, params.stop)
    past = None
    step_ids = torch.tensor([input_ids], device=device)
    contrast = _Contrast(model, tokenizer, params.guidance, device) if params.guidance else None
    outside = None if params.edits else torch.tensor([True])
    last = last_logits_only(model)
    finish = "length"
    for _ in range(params.max_tokens):
        with torch.inference_mode(), rows_outside(outside):
            out = model(input_ids=step_ids, past_key_values=past, use_cache=True, **last)
            logits = out.logits[0, -1]
            if contrast is not None:
                logits = contrast(step_ids[:, -1:], logits, text.generated)
        past = out.past_key_values
        token = sample_token(logits.float().cpu(), params, generator)
        if token in eos:
            finish = "stop"
            break
        step_ids = torch.tensor([[token]], device=device)
        if (piece := text.push(token)) is not None:
            yield piece
            if text.done:
                return
    yield text.finish(finish)
