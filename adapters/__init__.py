"""Skills: LoRA adapters trained with replay or self-synthesized rehearsal, returned as weight deltas."""

from .config import SkillConfig, SkillConfigError
from .data import Example, Skill, SkillDataError
from .lora import lora_delta
from .merge import MergeSpec, merge_coefficients
from .replay import RehearsalStore, ReplaySet, SkillRecord, total_replay_percentage
from .train import TrainResult, train_skill

__all__ = [
    "Example",
    "MergeSpec",
    "RehearsalStore",
    "ReplaySet",
    "Skill",
    "SkillConfig",
    "SkillConfigError",
    "SkillDataError",
    "SkillRecord",
    "TrainResult",
    "lora_delta",
    "merge_coefficients",
    "total_replay_percentage",
    "train_skill",
]
