"""PyTorch facts the issue-13 rules need and the flow tree does not carry.

Each module answers one kind of question over a file's syntax tree and the
semantic model's import table: where gradients are clipped
(:mod:`.clipping`), where a batch is blended (:mod:`.mixing`), which tensors
are normalised (:mod:`.normalisation`), how many outputs a classifier head
has and how many classes a dataset has (:mod:`.heads`), and how data is
split (:mod:`.splits`). Names are resolved to qualified names through the
model (:meth:`SemanticModel.qualified_name`), never matched on alias text.
The one syntax walk they share (:mod:`.syntax`) runs only in files whose text
can hold the pattern, and at most once per file.
"""
