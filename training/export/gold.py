"""The gold standard of each labelled frame: consensus of several annotators, else the one."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from training.agreement import (
    ChoiceKappa,
    FrameAgreement,
    choice_kappas,
    consensus_annotation,
    frame_agreement,
)
from training.annotations import FrameAnnotation
from training.export.errors import ExportError
from training.export.source import LabelledFrame

CONSENSUS_SOURCE = "consensus"
SINGLE_SOURCE = "single"


@dataclass(frozen=True)
class GoldFrame:
    """A labelled frame with its gold annotation and its annotators' agreement.

    ``gold.masks`` holds an (H, W) bool mask for every structure of the frame's view (empty
    where the structure is absent) and every structure any annotator painted.
    """

    frame: LabelledFrame
    gold: FrameAnnotation
    agreement: FrameAgreement
    tied_choices: tuple[str, ...]

    @property
    def source(self) -> str:
        """``consensus`` when two or more annotated the frame, else ``single``."""
        return CONSENSUS_SOURCE if len(self.frame.annotations) > 1 else SINGLE_SOURCE


def gold_frame(frame: LabelledFrame) -> GoldFrame:
    consensus = consensus_annotation(frame.annotations, frame.structure_keys, frame.frame_shape_px)
    agreement = frame_agreement(
        frame.annotations, frame.structure_keys, frame.keypoint_keys, frame.spacing_mm_per_px
    )
    return GoldFrame(frame, consensus.annotation, agreement, consensus.tied_choices)


def build_gold_frames(frames: Iterable[LabelledFrame]) -> list[GoldFrame]:
    """Gold frames ordered by clip, frame index and task; a frame in two tasks is an error."""
    ordered = sorted(frames, key=lambda f: (f.clip_id, f.frame_index, f.task_id))
    for before, after in zip(ordered, ordered[1:]):
        if (before.clip_id, before.frame_index) == (after.clip_id, after.frame_index):
            raise ExportError(
                f"frame {after.frame_index} of clip {after.clip_id} is in tasks "
                f"{before.task_id} and {after.task_id}: export one of the projects, or delete "
                "the duplicate task"
            )
    return [gold_frame(frame) for frame in ordered]


def kappas_of(gold_frames: Sequence[GoldFrame]) -> list[ChoiceKappa]:
    """Cohen's kappa of view, level and quality over the frames with several annotators."""
    return choice_kappas(g.frame.annotations for g in gold_frames)
