"""Weight edits: write a fact into the model as a weight delta (ROME, MEMIT/AlphaEdit).

A leaf package: functions take a model, a tokenizer and plain data and return an `EditResult`
whose `delta` (parameter name -> fp32 tensor) the caller applies; nothing here changes weights.
"""
from editing.config import ContextConfig, CovarianceConfig, RomeConfig
from editing.memit import MemitConfig, memit_edit
from editing.request import EditRequest, EditRequestError
from editing.rome import EditResult, rome_edit

__all__ = [
    "ContextConfig",
    "CovarianceConfig",
    "EditRequest",
    "EditRequestError",
    "EditResult",
    "MemitConfig",
    "RomeConfig",
    "memit_edit",
    "rome_edit",
]
