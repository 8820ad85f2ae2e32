"""Edit requests, their validation and tokenisation (typed errors, no asserts)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Tokenizer: TypeAlias = "PreTrainedTokenizerBase"
"""Any Hugging Face tokenizer, slow or fast (transformers is imported only for type checking)."""


class EditRequestError(ValueError):
    """The caller asked for an edit that cannot be made; the message says how to fix it."""


class SubjectNotInPromptError(EditRequestError):
    pass


class EmptyTargetError(EditRequestError):
    pass


class UnknownLayerError(EditRequestError):
    pass


class UnsupportedModelError(EditRequestError):
    pass


@dataclass(frozen=True)
class EditRequest:
    """Rewrite `prompt` (which contains `subject`) to continue with `target_new`."""

    prompt: str
    subject: str
    target_new: str
    target_true: str | None = None

    def __post_init__(self) -> None:
        if not self.subject.strip():
            raise SubjectNotInPromptError("subject is empty: give the entity whose fact changes")
        if self.subject not in self.prompt:
            raise SubjectNotInPromptError(
                f"subject {self.subject!r} does not occur in prompt {self.prompt!r}: "
                "the prompt must contain the subject verbatim"
            )
        if not self.target_new.strip():
            raise EmptyTargetError("target_new is empty: give the new answer the prompt should continue with")
        if self.target_true is not None and not self.target_true.strip():
            raise EmptyTargetError("target_true is empty: omit it or give the current answer")

    @property
    def before(self) -> str:
        """Prompt text before the subject."""
        return self.prompt[: self.prompt.index(self.subject)]

    @property
    def after(self) -> str:
        """Prompt text after the subject (trailing whitespace dropped: targets carry their space)."""
        return self.prompt[self.prompt.index(self.subject) + len(self.subject) :].rstrip()

    @property
    def cloze(self) -> str:
        return self.before + self.subject + self.after


def target_ids(tokenizer: Tokenizer, text: str) -> list[int]:
    """Token ids of `text` as a continuation (one leading space); raises if it tokenises to nothing."""
    ids = tokenizer.encode(" " + text.strip(), add_special_tokens=False)
    if not tokenizer.encode(text.strip(), add_special_tokens=False) or not ids:
        raise EmptyTargetError(f"target {text!r} tokenizes to nothing: give a target with visible text")
    return ids


@dataclass(frozen=True)
class Encoded:
    """A prompt split at the subject's last token: head ends with it, tail is what follows."""

    head: list[int]
    rest: list[int]
    target: list[int] | None = None
    """Target ids for this context when they differ from the plain continuation's."""
    also: tuple[int, ...] = ()
    """Indices into `rest` where the subject's last token occurs again: the edit fires there too."""


def encode_prompt(tokenizer: Tokenizer, request: EditRequest, context: list[int]) -> Encoded:
    """`context` ids (a sampled prefix ending in '. ', or []) + the prompt, split at the subject.

    Pieces are encoded separately so the subject's last token index is exact.
    """
    head_text = request.before + request.subject
    head = context + tokenizer.encode(head_text, add_special_tokens=not context)
    rest = tokenizer.encode(request.after, add_special_tokens=False) if request.after else []
    return Encoded(head, rest)


def essence_prompt(tokenizer: Tokenizer, request: EditRequest) -> Encoded:
    """'{subject} is a': the prompt whose distribution the KL term keeps."""
    head = tokenizer.encode(request.subject, add_special_tokens=True)
    return Encoded(head, tokenizer.encode(" is a", add_special_tokens=False))


def chat_turn(tokenizer: Tokenizer) -> tuple[list[int], list[int]] | None:
    """Token ids around a user message up to the assistant's reply in the tokenizer's chat
    template: (before the message, after it); None without a chat template."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    marker = "\u2063MESSAGE\u2063"
    text = tokenizer.apply_chat_template([{"role": "user", "content": marker}], tokenize=False, add_generation_prompt=True)
    if text.count(marker) != 1:
        return None
    before, after = text.split(marker)
    return tokenizer.encode(before, add_special_tokens=False), tokenizer.encode(after, add_special_tokens=False)


def _chat_parts(tokenizer: Tokenizer, request: EditRequest) -> tuple[list[int], list[int], list[int]] | None:
    """The prompt as a user's chat message: (head up to the subject, the prompt's rest, the template
    up to the assistant's reply); None when the tokenizer has no chat template."""
    turn = chat_turn(tokenizer)
    if turn is None:
        return None
    before, after = turn
    head = before + tokenizer.encode(request.before + request.subject, add_special_tokens=False)
    tail = tokenizer.encode(request.after, add_special_tokens=False) if request.after else []
    return head, tail, after


def encode_chat(tokenizer: Tokenizer, request: EditRequest) -> Encoded | None:
    """The prompt as a user's chat message and the new target as the assistant's reply, so the
    value is optimised for chat answers too; None when the tokenizer has no chat template."""
    parts = _chat_parts(tokenizer, request)
    if parts is None:
        return None
    head, tail, after = parts
    return Encoded(head, tail + after, tokenizer.encode(request.target_new.strip(), add_special_tokens=False))


def encode_echo(tokenizer: Tokenizer, request: EditRequest) -> Encoded | None:
    """The prompt as a user's chat message, answered by the assistant repeating the prompt and
    completing it with the new target, as small chat models answer ("X is located in" -> "X is
    located in Rome."). The reply names the subject again, and an edit fires there as well, so the
    reply's subject is marked in `also`; None when the tokenizer has no chat template."""
    parts = _chat_parts(tokenizer, request)
    if parts is None:
        return None
    head, tail, after = parts
    reply = tokenizer.encode(request.before + request.subject, add_special_tokens=False)
    subject_at = len(tail) + len(after) + len(reply) - 1
    return Encoded(head, tail + after + reply + tail, target_ids(tokenizer, request.target_new), (subject_at,))
