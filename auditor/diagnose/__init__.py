"""``clsaudit diagnose``: where a classifier fails, from its predictions alone.

Reading (:mod:`readers`, checked in :mod:`predictions`), the numbers
(:mod:`analysis`, on :mod:`clsaudit.metrics`), the one recommendation
(:mod:`recommendation`), and the outputs (:mod:`terminal`,
:mod:`html_report`, :mod:`png_heatmap`); :mod:`writer` writes the same
format for the reference pipeline's ``--save-predictions``.
"""
