"""Simulated clinicians for end-to-end tests against a real Label Studio.

Clinicians join through the organisation's invite link (Label Studio's own sign-up form, the
way a clinician would) and read their API token from ``/api/current-user/token``; they post
annotations with it. Phantom frames are cropped to the imaging region, so that structures reach
the frame border. One clinician posts the phantom's ground truth, another the same with
realistic disagreement (``DISAGREEMENT``).
"""

import secrets
from dataclasses import dataclass, field, replace

import cv2
import httpx
import numpy as np
from label_studio_sdk import LabelStudio

from label_config import STRUCTURES, keypoints_for_view, structures_for_view
from training.annotations import FrameAnnotation, brush_region, to_label_studio_result
from training.phantom import generate_clip
from upload.frames import FrameRecord
from upload.storage import LocalFrameStore

SEED = 4
FRAME_INDICES = (0, 30)
STRUCTURE_KEYS = [s.key for s in STRUCTURES]


@dataclass
class Clinician:
    name: str
    """``user-<id>``: how the export names an annotator."""
    client: LabelStudio


@dataclass
class PhantomFrame:
    clip_id: str
    frame_index: int
    view: str
    time_s: float
    image: np.ndarray
    truth: dict[str, np.ndarray]
    """Structure key -> (H, W) bool ground truth, for the structures of the view."""
    spacing_mm_per_px: float


@dataclass
class LabelledTask:
    task_id: int
    frame: PhantomFrame
    posted: dict[str, FrameAnnotation] = field(default_factory=dict)
    """Clinician name -> what that clinician posted."""


def phantom_frames(view: str) -> list[PhantomFrame]:
    """Frames cropped to the imaging region, so that structures reach the frame border."""
    clip = generate_clip(SEED, view, duration_s=2.0)
    x0, y0, x1, y1 = clip.imaging_region
    frames = []
    for index in FRAME_INDICES:
        rendered = clip.render(index)
        truth = {
            s.key: rendered.masks[STRUCTURE_KEYS.index(s.key), y0:y1, x0:x1] > 0
            for s in structures_for_view(view)
        }
        image = rendered.image[y0:y1, x0:x1]
        clip_id, spacing = f"{view}-{SEED}", clip.spacing_mm_per_px
        frames.append(PhantomFrame(clip_id, index, view, rendered.time_s, image, truth, spacing))
    return frames


def blank_frame(like: PhantomFrame) -> PhantomFrame:
    """A frame with nothing to see: the probe lifted off the skin."""
    image = np.zeros(like.image.shape, np.uint8)
    return PhantomFrame("lifted-probe", 0, like.view, 0.0, image, {}, like.spacing_mm_per_px)


def invite_clinician(url: str, admin_token: str, email: str) -> Clinician:
    """A new Label Studio user who signs up through the invite link and reads their token."""
    admin_headers = {"Authorization": f"Token {admin_token}"}
    invite_url = httpx.get(f"{url}/api/invite", headers=admin_headers).json()["invite_url"]
    with httpx.Client(base_url=url, follow_redirects=True, timeout=30.0) as browser:
        browser.get(invite_url).raise_for_status()
        form = {
            "email": email,
            "password": secrets.token_urlsafe(16),
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        }
        signup = browser.post(invite_url, data=form, headers={"Referer": url + invite_url})
        signup.raise_for_status()
        token = browser.get("/api/current-user/token").raise_for_status().json()["token"]
        user_id = browser.get("/api/current-user/whoami").raise_for_status().json()["id"]
    return Clinician(f"user-{user_id}", LabelStudio(base_url=url, api_key=token))


def store_frames(frames: list[PhantomFrame], store: LocalFrameStore) -> list[FrameRecord]:
    """Each frame as a PNG in the local-files root, with the record the upload would make."""
    records = []
    for frame in frames:
        key = f"frames/{frame.clip_id}/{frame.frame_index:06d}.png"
        store.put(key, cv2.imencode(".png", frame.image)[1].tobytes(), "image/png")
        height_px, width_px = frame.image.shape
        facts = (frame.time_s, frame.view, key, width_px, height_px, frame.spacing_mm_per_px)
        records.append(FrameRecord(frame.clip_id, frame.frame_index, *facts, "infant-phantom"))
    return records


def labelled_tasks(
    client: LabelStudio, project_id: int, frames: list[PhantomFrame]
) -> dict[int, LabelledTask]:
    """Task id -> LabelledTask for every task of the project, matched to its frame."""
    by_key = {(f.clip_id, f.frame_index): f for f in frames}
    return {
        task.id: LabelledTask(task.id, by_key[(task.data["clip_id"], task.data["frame_index"])])
        for task in client.tasks.list(project=project_id, fields="all")
    }


def square_px(radius_px: int) -> np.ndarray:
    return np.ones((2 * radius_px + 1, 2 * radius_px + 1), np.uint8)


def shift_right(mask: np.ndarray, by_px: int) -> np.ndarray:
    return np.pad(mask, ((0, 0), (by_px, 0)))[:, :-by_px]


DISAGREEMENT = {
    "spinous_process": lambda m: cv2.dilate(m.astype(np.uint8), square_px(1)) > 0,
    "interspinous_window": lambda m: shift_right(m, 1),
    "posterior_complex": lambda m: cv2.erode(m.astype(np.uint8), square_px(1)) > 0,
    "csf": lambda m: cv2.dilate(m.astype(np.uint8), square_px(2)) > 0,
    "cord": lambda m: cv2.erode(m.astype(np.uint8), square_px(2)) > 0,
    "vertebral_body": lambda m: m,
    "thecal_sac": lambda m: shift_right(m, 2),
}
"""How the second clinician's brush differs; a structure not listed here is missed."""


def keypoints_of(frame: PhantomFrame) -> dict[str, tuple[float, float]]:
    """Conus tip at the cord's right end, needle entry on the skin above the window."""
    if frame.view != "long_axis" or not frame.truth:
        return {}
    rows, columns = np.nonzero(frame.truth["cord"])
    end = columns.max()
    window_columns = np.nonzero(frame.truth["interspinous_window"])[1]
    return {
        "conus_tip": (end + 0.5, float(rows[columns == end].mean()) + 0.5),
        "needle_entry": (float(window_columns.mean()) + 0.5, 1.5),
    }


def truth_annotation(task: LabelledTask, name: str, level: str, quality: str) -> FrameAnnotation:
    frame = task.frame
    masks, points = {k: m for k, m in frame.truth.items() if m.any()}, keypoints_of(frame)
    every = {i.key for i in (*structures_for_view(frame.view), *keypoints_for_view(frame.view))}
    absent = frozenset(every - set(masks) - set(points))
    shape, view = frame.image.shape, frame.view
    return FrameAnnotation(task.task_id, name, masks, points, absent, view, level, quality, shape)


def disagreeing(truth: FrameAnnotation, name: str, level: str, quality: str) -> FrameAnnotation:
    masks = {k: DISAGREEMENT[k](m) for k, m in truth.masks.items() if k in DISAGREEMENT}
    missed = set(truth.masks) - set(masks)
    points = {k: (x + 2.0, y - 1.0) for k, (x, y) in truth.points.items()}
    hidden = truth.not_visible | missed
    changed = dict(masks=masks, points=points, not_visible=hidden, level=level, quality=quality)
    return replace(truth, annotator=name, **changed)


def two_strokes(key: str, mask: np.ndarray) -> list[dict]:
    """``mask`` painted as two brush regions: its left and its right half."""
    middle = int(np.nonzero(mask)[1].mean())
    left, right = mask.copy(), mask.copy()
    left[:, middle:] = False
    right[:, :middle] = False
    return [brush_region(key, left, f"{key}-left"), brush_region(key, right, f"{key}-right")]


def post(clinician: Clinician, annotation: FrameAnnotation, strokes_of: str | None = None):
    result = to_label_studio_result(annotation)
    if strokes_of in annotation.masks:
        result = [r for r in result if r["id"] != strokes_of]
        result += two_strokes(strokes_of, annotation.masks[strokes_of])
    clinician.client.annotations.create(id=annotation.task_id, result=result)
