"""Errors of the gold-standard export.

``ExportError``: the annotations cannot be exported as asked (a task without clip metadata, a
frame imported twice, an existing version folder). ``ChecksumError`` (a kind of ExportError):
an export folder does not match its ``SHA256SUMS``.
"""


class ExportError(RuntimeError):
    """The export cannot go on; the message names the task or file and the fix."""


class ChecksumError(ExportError):
    """A file of an export was changed, removed or added after it was written."""
