"""Which files can matter to the catalogue's rules, decided before parsing.

Parsing is most of a run's cost, and most files in a large tree (a vendored
library, the standard library) never touch a model, a loss, an optimizer
or a loader. Every rule in the catalogue fires on such an object, and the
semantic model recognises them by name, by torch-family import or by a
training verb (``backward``, ``eval``, ``step``...), so a file whose text
has none of that vocabulary can produce no finding by itself. It can still
matter through the import graph: its summary may feed a file that mentions
the vocabulary, so everything such a file imports (transitively) is parsed
too. A file that merely imports a relevant one is not: a finding needs the
vocabulary in the file it is reported in (a loss, a loader, a training
verb...), whatever the summaries say. Everything else is skipped: no parse,
no summary, no finding, exactly as if it had been checked.

The vocabulary is deliberately wide (every name the semantic builder and
the rules key on, case-insensitively, plus prefixes such as ``optim*``); a
test checks that the fixtures give the same findings with and without the
skip. The import scan is :mod:`clsaudit.import_graph`'s; only the closure
over it lives here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Identifiers (matched whole, case-insensitively) that can anchor a finding.
_NAMES = (
    # libraries whose objects the rules follow
    r"torch\w*|timm|\w*lightning\w*|webdataset|wds",
    # losses, optimizers, schedulers, scalers, loaders and datasets by name
    r"optim|optimi[sz]ers?|\w+_optimizer|\w*scheduler\w*|sched|lr_sched|gradscaler",
    r"criteri\w*|\w*loss|losses|loss_\w+|lossfn|xent|\w*dataloader\w*|\w+_loaders?|loaders?_\w+",
    r"\w*dataset\w*|\w*(?:train|test|val|valid)\w*_(?:set|ds|dl)|trainset|testset|valset",
    # training verbs and the calls the rules inspect
    r"zero_grad|no_grad|inference_mode|set_grad_enabled|enable_grad|requires_grad_?",
    r"\w*state_dict|set_epoch|\w*sampler\w*|\w*softmax\w*|sigmoid|argmax|logits|cross_entropy",
    r"nll_loss|\w*bce\w*|channels_last|resnet\d*|randomresizedcrop|randomcrop",
)
_NAME = re.compile(r"(?:" + "|".join(_NAMES) + r")", re.IGNORECASE)
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
# Method calls that are training steps whatever the receiver is called.
_CALLS = re.compile(r"\.(?:backward|eval|train|step|zero_grad)\s*\(")
# Statistics of test data and fit() on test data (CLS301, CLS502) need no torch at all.
_TEST = re.compile(r"test", re.IGNORECASE)
_STAT_OR_FIT = re.compile(r"\b(?:mean|std|var|std_mean|var_mean|nanmean|nanstd|fit)\s*\(|Normalize")


def mentions_training(text: str) -> bool:
    """True when ``text`` names anything the rules or the semantic model key on."""
    if _CALLS.search(text) is not None:
        return True
    if _TEST.search(text) is not None and _STAT_OR_FIT.search(text) is not None:
        return True
    return any(_NAME.fullmatch(name) for name in set(_IDENTIFIER.findall(text)))


def needed_files(
    files: Iterable[str], deps: Mapping[str, Iterable[str]], relevant: Iterable[str]
) -> set[str]:
    """The files to parse: the ``relevant`` ones and everything they import, transitively.

    ``deps[path]`` holds the checked files ``path`` imports; their summaries
    feed the relevant files. (An earlier version also kept every importer of
    a relevant file: on the standard library that kept 1,618 of 1,788 files
    through a few hub modules, for no finding.)
    """
    keep = set(relevant)
    stack = list(keep)
    while stack:
        for target in deps.get(stack.pop(), ()):
            if target not in keep:
                keep.add(target)
                stack.append(target)
    return keep
