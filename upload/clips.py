"""Reading ultrasound clips frame by frame: video through PyAV, DICOM through pydicom, stills
through Pillow. The readers live in ``upload.readers``; this module picks one by file type.

Frames are decoded as a stream, so memory does not grow with clip length. Frame times come from
the container (video presentation timestamps) or the DICOM timing attributes, never from a
nominal frame rate alone. Frames are pixels only: no file metadata travels with them.

Whatever goes wrong with a file, ``open_clip`` and ``Clip.frames`` raise ClipError naming it.
"""

from collections.abc import Callable
from pathlib import Path

from upload.errors import ClipError
from upload.readers.base import Clip, ClipHeader, Frame, describe
from upload.readers.dicom import open_dicom
from upload.readers.still import open_still
from upload.readers.video import open_video

__all__ = [
    "DICOM_SUFFIXES",
    "STILL_SUFFIXES",
    "VIDEO_SUFFIXES",
    "Clip",
    "ClipHeader",
    "Frame",
    "open_clip",
]

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".m4v"})
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ""})
STILL_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})


def open_clip(path: Path) -> Clip:
    """Open a video, DICOM or still-image clip and read its header.

    Raises ClipError, naming the file and the reason, when it is none of these or unreadable.
    """
    path = Path(path)
    opener, family = _opener(path)
    try:
        return opener(path)
    except ClipError:
        raise
    except Exception as error:  # each library raises its own types on damaged files
        raise ClipError(path, f"not a readable {family}: {describe(error)}") from error


def _opener(path: Path) -> tuple[Callable[[Path], Clip], str]:
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return open_video, "video"
    if suffix in STILL_SUFFIXES:
        return open_still, "image"
    if suffix in DICOM_SUFFIXES or _has_dicom_preamble(path):
        return open_dicom, "DICOM file"
    raise ClipError(path, f"unsupported file type {path.suffix!r}")


def _has_dicom_preamble(path: Path) -> bool:
    try:
        with open(path, "rb") as stream:
            return stream.read(132)[128:] == b"DICM"
    except OSError:
        return False
