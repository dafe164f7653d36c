"""Shared logic of the three "activation before the loss" rules (CLS101-103).

They differ only in which activation is wrong for which loss flavour; the
data flow (a tensor's activation, followed through models, ``nn.Sequential``
and parameters of helper functions) is the semantic model's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from clsaudit.findings import Report
from clsaudit.semantic import flow, values

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.semantic.model import SemanticModel

ACT_WORDS = {values.PROBS: "softmax probabilities", values.LOGPROBS: "log-probabilities", values.SIGMOID: "sigmoid outputs"}
LOSS_WORDS = {"ce": "cross-entropy", "nll": "NLL loss", "bcelogits": "BCE-with-logits loss", "bce": "BCE loss"}


def activation_into_loss(semantic: SemanticModel, act: str, flavours: set[str], advice: str) -> Iterable[Report]:
    for ev in semantic.events(flow.LOSS):
        if ev.value is None:
            continue
        kinds = [f for f, _ in semantic.resolve_loss_flavour(ev) if f in flavours]
        if not kinds:
            continue
        for source in semantic.resolve_activation(ev.value):
            if source.act != act:
                continue
            via = ""
            if source.kind == values.MODEL and source.node is not None:
                via = f" (the model built at line {semantic.line(source.node)} ends in it)"
            elif source is not ev.value and source.kind == values.MODEL:
                via = " (the model passed in ends in it)"
            yield Report(
                ev.node,
                f"{LOSS_WORDS[kinds[0]]} receives {ACT_WORDS[act]} applied at {semantic.where(source)}{via}; "
                f"{advice}",
            )
            break
