"""De-identified DICOM headers: what measurement needs, and nothing that identifies an infant.

dicognito applies the confidentiality profile (consistent UID replacement, file meta included,
keyed by the site key); then only an allowlist of acquisition attributes is kept, so a
free-text or private attribute that the profile misses cannot slip through.
"""

import hashlib
import hmac
from pathlib import Path

import dicognito
import pydicom
from dicognito.anonymizer import Anonymizer
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence

KEPT_KEYWORDS = frozenset(
    {
        "SpecificCharacterSet",
        "ImageType",
        "SOPClassUID",
        "SOPInstanceUID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "FrameOfReferenceUID",
        "Modality",
        "Manufacturer",
        "ManufacturerModelName",
        "Rows",
        "Columns",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "PlanarConfiguration",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "NumberOfFrames",
        "FrameIncrementPointer",
        "FrameTime",
        "FrameTimeVector",
        "CineRate",
        "RecommendedDisplayFrameRate",
        "ActualFrameDuration",
        "FrameDelay",
        "EffectiveDuration",
        "PixelSpacing",
        "SequenceOfUltrasoundRegions",
        "TransducerFrequency",
        "TransducerType",
        "BodyPartExamined",
        "PatientPosition",
        "LossyImageCompression",
    }
)
BASIC_PROFILE = ("113100", "DCM", "Basic Application Confidentiality Profile")


def patient_pseudonym(site_key: bytes, patient_id: str) -> str:
    """``infant-`` and 12 hex digits of HMAC-SHA256 over the source patient ID."""
    tag = hmac.new(site_key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"infant-{tag[:12]}"


def read_deidentified_header(path: Path, site_key: bytes) -> tuple[Dataset, str | None]:
    """The de-identified header of a DICOM file (no pixel data) and its patient pseudonym."""
    source = pydicom.dcmread(path, stop_before_pixels=True)
    patient_id = str(source.get("PatientID", "") or "").strip()
    pseudonym = patient_pseudonym(site_key, patient_id) if patient_id else None
    return deidentify(source, site_key, pseudonym), pseudonym


def deidentify(source: Dataset, site_key: bytes, pseudonym: str | None) -> Dataset:
    Anonymizer(seed=site_key.hex()).anonymize(source)
    kept = Dataset()
    for element in source:
        if element.keyword in KEPT_KEYWORDS:
            kept.add(element)
    kept.PatientName = pseudonym or ""
    kept.PatientID = pseudonym or ""
    _record_method(kept)
    kept.file_meta = _file_meta(source)
    return kept


def _record_method(dataset: Dataset) -> None:
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = f"dicognito {dicognito.__version__}; attribute allowlist"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = BASIC_PROFILE
    dataset.DeidentificationMethodCodeSequence = Sequence([code])


def _file_meta(source: Dataset) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = source.SOPClassUID
    meta.MediaStorageSOPInstanceUID = source.SOPInstanceUID
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    return meta


def header_bytes(dataset: Dataset) -> bytes:
    """The header as a DICOM Part 10 file without pixel data."""
    from io import BytesIO

    buffer = BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
