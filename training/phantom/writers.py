"""Write phantom clips as H.264 MP4 or as a multi-frame ultrasound DICOM."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

from training.phantom.clip import PhantomClip

_CODECS = ("libx264", "mpeg4")
_FRAME_TIME_TAG = pydicom.tag.Tag("FrameTime")


def write_mp4(clip: PhantomClip, path: Path) -> Path:
    """Encode every frame as H.264 yuv420p at the clip's frame rate (mpeg4 without libx264).

    Frame ``i`` gets timestamp ``i / fps``. Raises ValueError for odd frame sizes, which
    yuv420p cannot hold.
    """
    if clip.width_px % 2 or clip.height_px % 2:
        raise ValueError(f"MP4 needs even frame sizes, got {clip.width_px} x {clip.height_px}")
    path = Path(path)
    rate = Fraction(clip.fps).limit_denominator(1001)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream(_available_codec(), rate=rate)
        stream.width, stream.height, stream.pix_fmt = clip.width_px, clip.height_px, "yuv420p"
        stream.codec_context.time_base = 1 / rate
        stream.options = {"crf": "18", "preset": "medium"} if stream.name == "libx264" else {}
        for index, frame in enumerate(clip):
            video_frame = av.VideoFrame.from_ndarray(frame.image, format="gray")
            video_frame.pts = index
            video_frame.time_base = 1 / rate
            container.mux(stream.encode(video_frame.reformat(format="yuv420p")))
        container.mux(stream.encode(None))
    return path


def _available_codec() -> str:
    for name in _CODECS:
        try:
            av.codec.Codec(name, "w")
        except ValueError:
            continue
        return name
    raise RuntimeError(f"PyAV has none of the encoders {_CODECS}; install an FFmpeg build with one")


def write_dicom(clip: PhantomClip, path: Path) -> Path:
    """Write a multi-frame US image: 8-bit MONOCHROME2, explicit VR little endian, uncompressed.

    The header carries the clip's fake identifiers, cine timing and one ultrasound region
    (the imaging region, cm per pixel). UIDs derive from the seed and view, so the same clip
    writes the same bytes.
    """
    path = Path(path)
    dataset = _dicom_header(clip)
    frames = np.empty((clip.n_frames, clip.height_px, clip.width_px), np.uint8)
    for index, frame in enumerate(clip):
        frames[index] = frame.image
    dataset.NumberOfFrames = clip.n_frames
    dataset.PixelData = frames.tobytes()
    dataset.save_as(path, enforce_file_format=True)
    return path


def _uid(clip: PhantomClip, what: str, per_view: bool = True) -> str:
    sources = [f"phantom seed {clip.seed}", what] + ([clip.view] if per_view else [])
    return generate_uid(entropy_srcs=sources)


def _dicom_header(clip: PhantomClip) -> Dataset:
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    dataset.file_meta.MediaStorageSOPInstanceUID = _uid(clip, "instance")
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SOPClassUID = UltrasoundMultiFrameImageStorage
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
    dataset.StudyInstanceUID = _uid(clip, "study", per_view=False)
    dataset.SeriesInstanceUID = _uid(clip, "series")
    _add_patient_and_study(dataset, clip)
    _add_image_pixel(dataset, clip)
    _add_cine(dataset, clip)
    dataset.SequenceOfUltrasoundRegions = Sequence([_ultrasound_region(clip)])
    return dataset


def _add_patient_and_study(dataset: Dataset, clip: PhantomClip) -> None:
    identity = clip.identity
    dataset.PatientName = identity.patient_name
    dataset.PatientID = identity.patient_id
    dataset.PatientBirthDate = identity.birth_date
    dataset.PatientSex = "O"
    dataset.InstitutionName = identity.institution
    dataset.StudyDate = dataset.SeriesDate = dataset.ContentDate = identity.study_date
    dataset.StudyTime = dataset.SeriesTime = dataset.ContentTime = identity.study_time
    dataset.StudyID = "1"
    dataset.AccessionNumber = ""
    dataset.ReferringPhysicianName = ""
    dataset.Modality = "US"
    dataset.Manufacturer = "SPINE PHANTOM"
    dataset.SeriesNumber = 1 + ("long_axis", "short_axis").index(clip.view)
    dataset.InstanceNumber = 1
    dataset.SeriesDescription = f"L-SPINE {clip.view.replace('_', ' ').upper()}"
    dataset.BurnedInAnnotation = "YES"


def _add_image_pixel(dataset: Dataset, clip: PhantomClip) -> None:
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.Rows, dataset.Columns = clip.height_px, clip.width_px
    dataset.BitsAllocated = dataset.BitsStored = 8
    dataset.HighBit = 7
    dataset.PixelRepresentation = 0
    dataset.ImageType = ["ORIGINAL", "PRIMARY"]


def _add_cine(dataset: Dataset, clip: PhantomClip) -> None:
    dataset.FrameTime = f"{1000.0 / clip.fps:.4f}"
    dataset.CineRate = int(round(clip.fps))
    dataset.RecommendedDisplayFrameRate = int(round(clip.fps))
    dataset.FrameIncrementPointer = _FRAME_TIME_TAG


def _ultrasound_region(clip: PhantomClip) -> Dataset:
    """One 2-D tissue region; as DICOM has it, Max X1/Y1 are the last pixel inside it."""
    x0, y0, x1, y1 = clip.imaging_region
    spacing_cm = clip.spacing_mm_per_px / 10.0
    region = Dataset()
    region.RegionSpatialFormat = 1
    region.RegionDataType = 1
    region.RegionFlags = 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = x0, y0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = x1 - 1, y1 - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = region.PhysicalDeltaY = spacing_cm
    region.ReferencePixelX0 = (x1 - x0) // 2
    region.ReferencePixelY0 = 0
    region.ReferencePixelPhysicalValueX = 0.0
    region.ReferencePixelPhysicalValueY = 0.0
    region.TransducerFrequency = int(round(clip.scanner.frequency_mhz * 1000))
    return region
