"""One source of truth for the spine structures.

The Label Studio labeling config, the model's output channels and the phantom's masks are all
derived from ``STRUCTURES``; the channel of a structure in a model output is its position here.
"""

from dataclasses import dataclass

LONG_AXIS = "long_axis"
SHORT_AXIS = "short_axis"
VIEWS = (LONG_AXIS, SHORT_AXIS)


@dataclass(frozen=True)
class Structure:
    key: str
    label: str
    """The label text shown in Label Studio and stored in annotations."""
    views: tuple[str, ...]
    colour: str
    hotkey: str
    definition: str


STRUCTURES: tuple[Structure, ...] = (
    Structure(
        "spinous_process",
        "Spinous process",
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


def structures_for_view(view: str) -> tuple[Structure, ...]:
    """The structures drawn in ``view``; every structure for an unknown view."""
    if view not in VIEWS:
        return STRUCTURES
    return tuple(s for s in STRUCTURES if view in s.views)
