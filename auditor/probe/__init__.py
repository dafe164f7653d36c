"""The runtime probe: ``clsaudit probe``.

Runs a training pipeline for a few steps under instrumentation and checks
loss and gradient behaviour (see DESIGN.md, "Runtime probe"). This package's
``__init__`` and ``command`` import no torch: only the child process that
runs the pipeline does.
"""
