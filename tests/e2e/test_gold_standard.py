"""Two clinicians label phantom frames in a real Label Studio; agreement and the gold standard.

A Label Studio of its own is started on a free loopback port with its state in a temporary
folder. The admin creates a long-axis and a short-axis project the way the stack does
(``SpineProject``: ``labeling_config(view)``, local-files storage) and imports phantom frames
stored as PNGs in the local-files root; two invited clinicians
(``tests.e2e.clinicians``) annotate them through the API, the second with realistic
disagreement, and only the first labels the last short-axis frame.
"""

import csv
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from label_studio_sdk import LabelStudio

from label_config import keypoints_for_view, structures_for_view
from local_stack.paths import StackPaths
from local_stack.processes import label_studio_environment, start_label_studio
from local_stack.project import SpineProject
from local_stack.secrets_file import generate
from tests.e2e.clinicians import (
    Clinician,
    LabelledTask,
    blank_frame,
    disagreeing,
    invite_clinician,
    labelled_tasks,
    phantom_frames,
    post,
    store_frames,
    truth_annotation,
)
from tests.e2e.conftest import LABEL_STUDIO, REPO, free_port
from training.agreement import consensus_annotation
from training.annotations import LABEL_OF_KEY, FrameAnnotation, parse_annotation
from training.export import (
    export_gold_standard,
    import_gold_standard,
    publish_gold_standard,
)
from upload.storage import LocalFrameStore

pytestmark = pytest.mark.label_studio

VERSION = "e2e-1"


@dataclass
class GoldStack:
    url: str
    token: str
    admin: LabelStudio
    project_ids: list[int]
    clinicians: list[Clinician]
    tasks: dict[int, LabelledTask]
    out: Path


CHOICES = {
    ("long_axis-4", 0): (("L3/4", "diagnostic"), ("L4/5", "limited")),
    ("long_axis-4", 30): (("L4/5", "diagnostic"), ("L4/5", "diagnostic")),
    ("lifted-probe", 0): ((None, "non-diagnostic"), (None, "non-diagnostic")),
    ("short_axis-4", 0): (("L3/4", "diagnostic"), ("L3/4", "limited")),
    ("short_axis-4", 30): (("L3/4", "diagnostic"), None),
}
"""(clip, frame) -> (level, quality) of the first and the second clinician; None: not labelled."""


def annotate(tasks: dict[int, LabelledTask], first: Clinician, second: Clinician) -> None:
    """The first clinician posts the truth, spinous processes in two strokes; the second the
    truth with disagreement, on every frame that has a second entry in CHOICES."""
    for task in tasks.values():
        first_choices, second_choices = CHOICES[(task.frame.clip_id, task.frame.frame_index)]
        truth = truth_annotation(task, first.name, *first_choices)
        post(first, truth, strokes_of="spinous_process")
        task.posted[first.name] = truth
        if second_choices is not None:
            other = disagreeing(truth, second.name, *second_choices)
            post(second, other)
            task.posted[second.name] = other


@pytest.fixture(scope="module")
def gold_stack(tmp_path_factory) -> GoldStack:
    if not LABEL_STUDIO.exists():
        pytest.fail(f"Label Studio is not installed at {LABEL_STUDIO}: run `make test`")
    root = tmp_path_factory.mktemp("gold-standard")
    paths = StackPaths(root / "var")
    paths.frames_dir.mkdir(parents=True)
    stack_secrets = generate()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = label_studio_environment(
        stack_secrets, paths.label_studio_data, paths.media_root, url
    )
    server = start_label_studio(LABEL_STUDIO, port, environment, paths.logs / "label-studio.log")
    try:
        yield populate(url, stack_secrets.label_studio_token, paths, root / "exports")
    finally:
        server.stop()


def populate(url: str, token: str, paths: StackPaths, out: Path) -> GoldStack:
    admin = LabelStudio(base_url=url, api_key=token)
    clinicians = [invite_clinician(url, token, f"clinician.{n}@spine.local") for n in "ab"]
    store = LocalFrameStore(paths.media_root)
    long_axis, short_axis = phantom_frames("long_axis"), phantom_frames("short_axis")
    project_ids, tasks = [], {}
    for view, frames in (
        ("long_axis", [*long_axis, blank_frame(long_axis[0])]),
        ("short_axis", short_axis),
    ):
        project = SpineProject(url, token, view)
        project.register_frame_storage(paths.frames_dir)
        project.import_frames(store_frames(frames, store), store)
        project_ids.append(project.id)
        tasks |= labelled_tasks(admin, project.id, frames)
    annotate(tasks, *clinicians)
    return GoldStack(url, token, admin, project_ids, clinicians, tasks, out)


@pytest.fixture(scope="module")
def exported(gold_stack):
    return export_gold_standard(
        gold_stack.admin, gold_stack.project_ids, gold_stack.out / "first", version=VERSION
    )


@pytest.fixture(scope="module")
def imported(exported) -> dict[int, FrameAnnotation]:
    return {a.task_id: a for a in import_gold_standard(exported.folder)}


def shared_tasks(stack: GoldStack) -> list[LabelledTask]:
    return [t for t in stack.tasks.values() if len(t.posted) == 2]


def task_of(stack: GoldStack, clip_id: str, frame_index: int) -> LabelledTask:
    return next(
        t
        for t in stack.tasks.values()
        if (t.frame.clip_id, t.frame.frame_index) == (clip_id, frame_index)
    )


def pair_of(stack: GoldStack, task: LabelledTask) -> tuple[FrameAnnotation, FrameAnnotation]:
    first, second = stack.clinicians
    return task.posted[first.name], task.posted[second.name]


def choices_of(annotation: FrameAnnotation) -> tuple[str | None, ...]:
    return annotation.view, annotation.level, annotation.quality


def numpy_dice(first: FrameAnnotation, second: FrameAnnotation, key: str) -> float:
    empty = np.zeros(first.frame_shape_px, bool)
    a, b = first.masks.get(key, empty), second.masks.get(key, empty)
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 1.0 if key in first.not_visible and key in second.not_visible else math.nan
    return 2.0 * int((a & b).sum()) / total


def numpy_kappa(first: list[str], second: list[str]) -> float:
    values = sorted(set(first) | set(second))
    a, b = np.array(first), np.array(second)
    observed = float(np.mean(a == b))
    chance = sum(float(np.mean(a == v)) * float(np.mean(b == v)) for v in values)
    return (observed - chance) / (1.0 - chance)


def manifest_rows(folder: Path) -> dict[int, dict[str, str]]:
    with open(folder / "manifest.csv", newline="") as stream:
        return {int(row["task_id"]): row for row in csv.DictReader(stream)}


def folder_bytes(folder: Path) -> dict[str, bytes]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}


def test_each_clinician_is_a_user_of_their_own(gold_stack):
    names = {c.name for c in gold_stack.clinicians}
    seen = set()

    for project_id in gold_stack.project_ids:
        for task in gold_stack.admin.tasks.list(project=project_id, fields="all"):
            seen |= {f"user-{a['completed_by']}" for a in task.annotations}

    assert len(names) == 2 and "user-1" not in names
    assert seen == names


def test_one_annotation_holds_two_strokes_keypoints_and_choices(gold_stack):
    task = task_of(gold_stack, "long_axis-4", 0)
    first = gold_stack.clinicians[0]

    (result,) = [
        a.result
        for a in gold_stack.admin.annotations.list(id=task.task_id)
        if f"user-{a.completed_by}" == first.name
    ]

    spinous = LABEL_OF_KEY["spinous_process"]
    strokes = [r for r in result if r["value"].get("brushlabels") == [spinous]]
    assert len(strokes) == 2
    assert {r["type"] for r in result} == {"brushlabels", "keypointlabels", "choices"}


def test_dice_of_every_structure_matches_numpy(gold_stack, exported):
    agreements = {a.task_id: a for a in exported.adjudication}
    rows = manifest_rows(exported.folder)

    assert set(agreements) == {t.task_id for t in shared_tasks(gold_stack)}
    for task in shared_tasks(gold_stack):
        first, second = pair_of(gold_stack, task)
        for structure in structures_for_view(task.frame.view):
            expected = numpy_dice(first, second, structure.key)
            assert agreements[task.task_id].dice[structure.key] == pytest.approx(
                expected, rel=1e-12, nan_ok=True
            )
            cell = rows[task.task_id][f"dice_{structure.key}"]
            assert (float(cell) if cell else math.nan) == pytest.approx(
                expected, abs=1e-6, nan_ok=True
            )


def test_keypoint_distances_in_mm_match_numpy(gold_stack, exported):
    agreements = {a.task_id: a for a in exported.adjudication}
    measured = 0

    for task in shared_tasks(gold_stack):
        first, second = pair_of(gold_stack, task)
        for key in first.points.keys() & second.points.keys():
            offset_px = np.subtract(second.points[key], first.points[key])
            expected = float(np.hypot(*offset_px)) * task.frame.spacing_mm_per_px
            assert agreements[task.task_id].distance_mm[key] == pytest.approx(expected, rel=1e-9)
            measured += 1

    assert measured == 2 * 2  # two keypoints on each of the two long-axis phantom frames


def test_kappa_of_each_choice_matches_the_hand_formula(gold_stack, exported):
    kappas = {k.choice: k for k in exported.kappas}

    for choice in ("view", "level", "quality"):
        pairs = [pair_of(gold_stack, t) for t in shared_tasks(gold_stack)]
        made = [(getattr(a, choice), getattr(b, choice)) for a, b in pairs]
        made = [(a, b) for a, b in made if a is not None and b is not None]
        expected = numpy_kappa([a for a, _ in made], [b for _, b in made])
        assert kappas[choice].n_frames == len(made)
        assert kappas[choice].kappa == pytest.approx(expected, rel=1e-12)
    # by hand: view 1.0 (4 frames); level (2/3 - 4/9) / (5/9) = 0.4; quality 0.25 / 0.75
    assert [kappas[c].kappa for c in ("view", "level", "quality")] == pytest.approx([1, 0.4, 1 / 3])


def test_import_reproduces_every_consensus_mask_exactly(gold_stack, imported):
    assert set(imported) == set(gold_stack.tasks)
    for task in gold_stack.tasks.values():
        posted = [task.posted[name] for name in sorted(task.posted)]
        keys = [s.key for s in structures_for_view(task.frame.view)]
        expected = consensus_annotation(posted, keys, task.frame.image.shape).annotation
        gold = imported[task.task_id]
        assert gold.masks.keys() == expected.masks.keys()
        for key, mask in expected.masks.items():
            assert np.array_equal(gold.masks[key], mask), (task.frame.clip_id, key)
        assert gold.points.keys() == expected.points.keys()
        for key, point in expected.points.items():
            assert gold.points[key] == pytest.approx(point, abs=1e-9)
        assert gold.not_visible == expected.not_visible
        assert choices_of(gold) == choices_of(expected)


def test_single_annotation_is_the_gold_standard_with_its_strokes_joined(gold_stack, imported):
    task = task_of(gold_stack, "short_axis-4", 30)
    (only,) = task.posted.values()

    gold = imported[task.task_id]

    assert gold.annotator == only.annotator
    assert np.array_equal(gold.masks["spinous_process"], only.masks["spinous_process"])


def test_a_frame_with_nothing_visible_exports_empty_masks_of_its_size(gold_stack, imported):
    task = task_of(gold_stack, "lifted-probe", 0)
    every = {s.key for s in structures_for_view("long_axis")}
    every |= {k.key for k in keypoints_for_view("long_axis")}

    gold = imported[task.task_id]

    assert gold.frame_shape_px == task.frame.image.shape
    assert gold.not_visible == every
    assert gold.masks and not any(m.any() for m in gold.masks.values())
    assert all(m.shape == task.frame.image.shape for m in gold.masks.values())


def touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def test_masks_touching_the_frame_border_come_back_whole(gold_stack, imported):
    # Both clinicians paint the vertebral bodies alike, so their consensus is the truth.
    checked = 0

    for task in gold_stack.tasks.values():
        truth = task.frame.truth.get("vertebral_body")
        if truth is None:
            continue
        assert touches_border(truth)
        assert np.array_equal(imported[task.task_id].masks["vertebral_body"], truth)
        checked += 1

    assert checked == 4


def test_frames_are_ranked_for_adjudication_lowest_dice_first(gold_stack, exported):
    means = [a.mean_dice for a in exported.adjudication]

    assert means == sorted(means)
    assert exported.adjudication[-1].task_id == task_of(gold_stack, "lifted-probe", 0).task_id
    assert means[-1] == 1.0


def test_published_gold_standard_reads_back_from_label_studio_predictions(
    gold_stack, exported, imported
):
    version = exported.folder.name

    posted = publish_gold_standard(gold_stack.admin, exported.folder)
    again = publish_gold_standard(gold_stack.admin, exported.folder)

    assert (posted, again) == (len(gold_stack.tasks), 0)
    for task_id, gold in imported.items():
        predictions = gold_stack.admin.predictions.list(task=task_id)
        (result,) = [p.result for p in predictions if p.model_version == version]
        read = parse_annotation(task_id, {"result": result}, annotator=gold.annotator)
        painted = {k: m for k, m in gold.masks.items() if m.any()}
        assert read.masks.keys() == painted.keys()
        assert all(np.array_equal(read.masks[k], m) for k, m in painted.items())
        assert read.not_visible == gold.not_visible
        assert choices_of(read) == choices_of(gold)


def test_exporting_again_from_the_command_line_gives_identical_bytes(
    gold_stack, exported, tmp_path
):
    token_file = tmp_path / "token"
    token_file.write_text(gold_stack.token)
    options = f"--label-studio-url {gold_stack.url} --token-file {token_file} "
    options += f"--out {tmp_path / 'second'} --version {VERSION}"

    command = [sys.executable, "-m", "training.export", *options.split()]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=120)

    again = tmp_path / "second" / exported.folder.name
    assert folder_bytes(again) == folder_bytes(exported.folder)
