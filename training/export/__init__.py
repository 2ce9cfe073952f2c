"""The gold-standard export: consensus annotations from Label Studio as a versioned folder.

``export_gold_standard(client, project_ids, out_dir, version=...)`` reads every submitted
annotation through the Label Studio API and writes ``gold-standard-<version>/`` (PNG masks,
NIfTI volumes, COCO RLE, a CSV manifest, agreement figures, the label schema, a README and
``SHA256SUMS``). ``import_gold_standard(folder)`` verifies the checksums and reads it back;
``publish_gold_standard(client, folder)`` posts it to Label Studio as predictions for review.
``training.export.audit_log.audited_export`` is the export that the command runs: each attempt
is recorded in the export audit log, listed by ``python -m training.export.audit``.
"""

from training.export.errors import ChecksumError, ExportError
from training.export.publish import publish_gold_standard
from training.export.reader import import_gold_standard
from training.export.source import LabelledFrame, read_labelled_frames
from training.export.writer import ExportSummary, export_gold_standard, write_gold_standard

__all__ = [
    "ChecksumError",
    "ExportError",
    "ExportSummary",
    "LabelledFrame",
    "export_gold_standard",
    "import_gold_standard",
    "publish_gold_standard",
    "read_labelled_frames",
    "write_gold_standard",
]
