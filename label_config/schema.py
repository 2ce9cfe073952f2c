"""One source of truth for what clinicians label on a frame.

The Label Studio labeling configs, the annotators' instructions, the model's output channels
and the phantom's masks are all derived from this module. Areas (``STRUCTURES``) are painted
with brushes; the channel of a structure in a model output is its position there. Points
(``KEYPOINTS``) are placed with keypoints. Per frame, annotators also choose the view, the
level and the image quality, and mark the structures that are not visible.
"""

from dataclasses import dataclass

LONG_AXIS = "long_axis"
SHORT_AXIS = "short_axis"
VIEWS = (LONG_AXIS, SHORT_AXIS)


@dataclass(frozen=True)
class LabelDefinition:
    key: str
    label: str
    """The label text shown in Label Studio and stored in annotations."""
    views: tuple[str, ...]
    colour: str
    hotkey: str
    definition: str
    required: bool
    """A required label is either drawn or marked "not visible" on every frame."""


@dataclass(frozen=True)
class Structure(LabelDefinition):
    """An area, painted with a brush."""

    required: bool = True


@dataclass(frozen=True)
class Keypoint(LabelDefinition):
    """A point, placed with a keypoint."""

    required: bool = False


STRUCTURES: tuple[Structure, ...] = (
    Structure(
        "spinous_process",
        "Spinous process / lamina",
        VIEWS,
        "#f2c94c",
        "1",
        "Cartilage arc (long axis) or midline cap and laminae (short axis); ossified parts "
        "are bright with an acoustic shadow beneath.",
    ),
    Structure(
        "interspinous_window",
        "Interspinous window",
        (LONG_AXIS,),
        "#27ae60",
        "2",
        "Soft tissue between two neighbouring spinous processes, down to the ligamentum "
        "flavum: the needle's path.",
    ),
    Structure(
        "posterior_complex",
        "Ligamentum flavum / posterior dura",
        VIEWS,
        "#eb5757",
        "3",
        "The bright line at the back wall of the canal.",
    ),
    Structure(
        "csf",
        "Subarachnoid CSF",
        VIEWS,
        "#2d9cdb",
        "4",
        "Anechoic (black) fluid around the cord and roots: the target.",
    ),
    Structure(
        "cord",
        "Spinal cord / conus medullaris",
        VIEWS,
        "#9b51e0",
        "5",
        "Hypoechoic tube with bright borders and a bright central line, tapering to the conus.",
    ),
    Structure(
        "cauda_equina",
        "Cauda equina / nerve roots",
        VIEWS,
        "#f2994a",
        "6",
        "Bright thin strands below the conus, lying in the dependent part of the sac.",
    ),
    Structure(
        "vertebral_body",
        "Vertebral body / anterior complex",
        VIEWS,
        "#bdbdbd",
        "7",
        "Bright bodies alternating with darker discs at the front of the canal.",
    ),
    Structure(
        "thecal_sac",
        "Thecal sac",
        (SHORT_AXIS,),
        "#56ccf2",
        "8",
        "The round dural sac in cross-section, with everything inside it.",
    ),
)


KEYPOINTS: tuple[Keypoint, ...] = (
    Keypoint(
        "conus_tip",
        "Conus tip",
        (LONG_AXIS,),
        "#6c3483",
        "q",
        "The lowest point of the conus medullaris, where the cord ends and the filum begins.",
    ),
    Keypoint(
        "needle_entry",
        "Suggested needle entry",
        (LONG_AXIS,),
        "#e74c3c",
        "w",
        "The skin point above the widest interspinous window, below the conus.",
    ),
)

LEVELS = ("L2/3", "L3/4", "L4/5", "L5/S1", "unknown")
QUALITIES = ("diagnostic", "limited", "non-diagnostic")
QUALITY_DEFINITIONS = {
    "diagnostic": "every required structure can be judged",
    "limited": "some structures can be judged, others are obscured",
    "non-diagnostic": "no structure can be judged reliably",
}


def structures_for_view(view: str) -> tuple[Structure, ...]:
    """The structures drawn in ``view``; every structure for an unknown view."""
    if view not in VIEWS:
        return STRUCTURES
    return tuple(s for s in STRUCTURES if view in s.views)


def keypoints_for_view(view: str) -> tuple[Keypoint, ...]:
    """The points placed in ``view``; every point for an unknown view."""
    if view not in VIEWS:
        return KEYPOINTS
    return tuple(k for k in KEYPOINTS if view in k.views)
