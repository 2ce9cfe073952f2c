"""Reading a gold-standard folder back, after verifying its checksums."""

from pathlib import Path

from label_config.schema import STRUCTURES
from training.annotations import FrameAnnotation
from training.export.checksums import verify_checksums
from training.export.encoding import mask_from_png
from training.export.layout import MANIFEST, mask_folder
from training.export.manifest import annotation_from_row, read_manifest

STRUCTURE_ORDER = [s.key for s in STRUCTURES]


def _schema_position(png: Path) -> tuple[int, str]:
    key = png.stem
    return (STRUCTURE_ORDER.index(key) if key in STRUCTURE_ORDER else len(STRUCTURE_ORDER), key)


def import_gold_standard(folder: Path) -> list[FrameAnnotation]:
    """The gold FrameAnnotations of an export, in manifest order (clip, frame index).

    Every file's checksum is verified first: a changed, missing or added file raises
    ChecksumError naming it. ``masks`` hold every PNG of the frame, empty ones included.
    """
    folder = Path(folder)
    verify_checksums(folder)
    annotations = []
    for row in read_manifest((folder / MANIFEST).read_bytes()):
        frame_folder = folder / mask_folder(row["clip_id"], int(row["frame_index"]))
        masks = {
            png.stem: mask_from_png(png.read_bytes(), str(png.relative_to(folder)))
            for png in sorted(frame_folder.glob("*.png"), key=_schema_position)
        }
        annotations.append(annotation_from_row(row, masks))
    return annotations
