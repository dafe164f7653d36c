"""The problems ``clsaudit diagnose`` reports as one line and exit code 2, never a traceback."""

from __future__ import annotations


class DiagnoseError(Exception):
    """A problem of the user's to fix: the message says what and where."""


class PredictionFileError(DiagnoseError):
    """The predictions (or class names) file is wrong; the message names the row or column."""


class MissingExtraError(DiagnoseError):
    """An optional package a requested output needs is not installed."""
