"""Identifiers planted in headers, tags, names and pixels never reach a stored output."""

import dataclasses

import av
import numpy as np
import pydicom
import pytest

from label_config import LONG_AXIS, SHORT_AXIS
from local_stack.project import frame_task_data
from tests.upload.plans import SITE_KEY, upload_plan
from training.phantom import generate_clip, write_dicom, write_mp4
from upload.batch import ingest_folder
from upload.dicom_header import read_deidentified_header
from upload.selection import FrameSelection
from upload.storage import LocalFrameStore

PLANTED = {
    "ReferringPhysicianName": "HOUSE^GREGORY^QX7",
    "OperatorsName": "SONOGRAPHER^ZELDA^QX7",
    "AccessionNumber": "ACC-99173-QX7",
    "StudyID": "STUDY-5521-QX7",
    "DeviceSerialNumber": "SERIAL-77031-QX7",
    "StationName": "NICU-BAY-QX7",
    "ImageComments": "baby of JANE QX7 DOE, bed 4",
    "InstitutionAddress": "12 Harbour Road QX7",
    "OtherPatientIDs": "MRN-4410-QX7",
}
PRIVATE_VALUE = "PRIVATE-MRN-QX7"
FOLDER_NAME = "DOE_JANE_MRN4410QX7"


def planted_dicom(folder, seed: int = 31):
    """A phantom short-axis cine with identifiers in many header fields and a private tag."""
    clip = generate_clip(seed, SHORT_AXIS, duration_s=1.0)
    path = folder / f"{clip.identifiers['patient_id']}.dcm"
    write_dicom(clip, path)
    dataset = pydicom.dcmread(path)
    for keyword, value in PLANTED.items():
        setattr(dataset, keyword, value)
    block = dataset.private_block(0x0099, "HOSPITAL PACS", create=True)
    block.add_new(0x01, "LO", PRIVATE_VALUE)
    dataset.save_as(path)
    return clip, path


def planted_mp4(folder, seed: int = 32):
    """A phantom long-axis MP4 whose container tags carry identifiers."""
    clip = generate_clip(seed, LONG_AXIS, duration_s=1.0)
    plain = folder / "plain.mp4"
    write_mp4(clip, plain)
    tagged = folder / f"{clip.identifiers['patient_name'].replace('^', '_')}.mp4"
    tags = {
        "title": clip.identifiers["patient_name"],
        "comment": clip.identifiers["patient_id"],
        "location": "+51.5074-000.1278/",
        "creation_time": "2026-01-02T03:04:05Z",
    }
    with av.open(str(plain)) as source, av.open(str(tagged), "w") as target:
        target.metadata.update(tags)
        stream_in = source.streams.video[0]
        stream_out = target.add_stream_from_template(stream_in)
        for packet in source.demux(stream_in):
            if packet.dts is not None:
                packet.stream = stream_out
                target.mux(packet)
    plain.unlink()
    return clip, tagged


def all_identifiers(*clips) -> list[str]:
    values = list(PLANTED.values()) + [PRIVATE_VALUE, FOLDER_NAME, "QX7"]
    for clip in clips:
        values += [v for v in clip.identifiers.values() if len(v) >= 4]
        values.append(clip.identifiers["patient_name"].replace("^", "_"))
    return values


def test_planted_identifiers_reach_no_stored_file_and_no_task(tmp_path):
    clips = tmp_path / "clips" / FOLDER_NAME
    clips.mkdir(parents=True)
    dicom_clip, _ = planted_dicom(clips)
    video_clip, _ = planted_mp4(clips)
    plan = upload_plan(tmp_path, FrameSelection(step=10))

    report = ingest_folder(tmp_path / "clips", plan)

    assert report.failures == []
    stored = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    tasks = [str(frame_task_data(f, plan.store)) for f in report.frames]
    assert len(stored) == len(report.frames) + 1  # the frames and one DICOM header
    assert_absent(all_identifiers(dicom_clip, video_clip), stored, tasks)


def test_planted_identifiers_reach_no_s3_object(tmp_path, s3_server):
    clips = tmp_path / "clips" / FOLDER_NAME
    clips.mkdir(parents=True)
    dicom_clip, _ = planted_dicom(clips)
    video_clip, _ = planted_mp4(clips)
    store = s3_server.store()
    plan = dataclasses.replace(upload_plan(tmp_path, FrameSelection(step=10)), store=store)

    report = ingest_folder(tmp_path / "clips", plan)

    listing = s3_server.client().list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    keys = [o["Key"] for o in listing["Contents"]]
    objects = {key: store.get(key.removeprefix(store.prefix)) for key in keys}
    tasks = [str(frame_task_data(f, plan.store)) for f in report.frames]
    assert report.failures == []
    assert len(objects) == len(report.frames) + 1
    assert_absent(all_identifiers(dicom_clip, video_clip), objects, tasks + keys)


def assert_absent(identifiers, files, texts) -> None:
    """No identifier in ``files`` (paths, or a name -> bytes mapping) or in ``texts``."""
    planted = [s.lower().encode() for s in identifiers]
    contents = files if isinstance(files, dict) else {p.name: p.read_bytes() for p in files}
    leaks = [f"{s!r} in {n}" for n, c in contents.items() for s in planted if s in c.lower()]
    leaks += [f"{s!r} in a task" for t in texts for s in planted if s in t.lower().encode()]
    assert leaks == []


def test_deidentified_header_keeps_what_measurement_needs(tmp_path):
    clip, path = planted_dicom(tmp_path)

    header, infant_id = read_deidentified_header(path, SITE_KEY)
    source = pydicom.dcmread(path, stop_before_pixels=True)

    assert header.PatientIdentityRemoved == "YES"
    assert header.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert header.FrameTime == source.FrameTime
    assert int(header.NumberOfFrames) == clip.n_frames
    region = header.SequenceOfUltrasoundRegions[0]
    assert region.PhysicalDeltaX == pytest.approx(clip.spacing_mm_per_px / 10)
    assert region.RegionLocationMinY0 == clip.imaging_region[1]
    assert str(header.PatientID) == infant_id and infant_id.startswith("infant-")
    assert "PixelData" not in header


def test_uids_are_replaced_consistently_in_dataset_and_file_meta(tmp_path):
    _, path = planted_dicom(tmp_path)
    source = pydicom.dcmread(path, stop_before_pixels=True)

    first, _ = read_deidentified_header(path, SITE_KEY)
    again, _ = read_deidentified_header(path, SITE_KEY)
    other_site, _ = read_deidentified_header(path, bytes(32))

    assert first.SOPInstanceUID != source.SOPInstanceUID
    assert first.StudyInstanceUID != source.StudyInstanceUID
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    assert (first.SOPInstanceUID, first.StudyInstanceUID) == (
        again.SOPInstanceUID,
        again.StudyInstanceUID,
    )
    assert other_site.SOPInstanceUID != first.SOPInstanceUID


def test_a_clip_and_its_infant_get_the_same_pseudonyms_on_every_run(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    planted_dicom(clips)

    first = ingest_folder(clips, upload_plan(tmp_path / "a", FrameSelection(step=10)))
    second = ingest_folder(clips, upload_plan(tmp_path / "b", FrameSelection(step=10)))

    assert first.clips[0].clip_id == second.clips[0].clip_id
    assert first.frames[0].infant_id == second.frames[0].infant_id is not None


def test_mp4_container_tags_are_not_carried(tmp_path):
    _, tagged = planted_mp4(tmp_path)
    store = LocalFrameStore(tmp_path / "media")
    with av.open(str(tagged)) as container:
        assert container.metadata.get("title"), "the test clip should carry a title tag"

    plan = upload_plan(tmp_path, FrameSelection(step=10))
    report = ingest_folder(tmp_path, plan)

    frame = store.get(report.frames[0].storage_key)
    assert frame.startswith(b"\x89PNG")
    assert b"tEXt" not in frame and b"iTXt" not in frame and b"eXIf" not in frame
    assert np.frombuffer(frame, np.uint8).size > 0
