"""Label Studio labeling configs and annotator instructions, generated from the schema.

One config per view (long axis, short axis) and one for frames whose view is unknown, which
offers every label. The tag names are shared by all configs, so predictions and exports read
every project the same way.
"""

from html import escape
from xml.sax.saxutils import quoteattr

from label_config.schema import (
    LEVELS,
    QUALITIES,
    QUALITY_DEFINITIONS,
    VIEWS,
    keypoints_for_view,
    structures_for_view,
)

UNKNOWN_VIEW = "unknown"
CONFIG_VIEWS = (*VIEWS, UNKNOWN_VIEW)

IMAGE_NAME = "image"
BRUSH_NAME = "structures"
KEYPOINT_NAME = "points"
NOT_VISIBLE_NAME = "not_visible"
VIEW_NAME = "view"
LEVEL_NAME = "level"
QUALITY_NAME = "quality"


def _labels(items) -> str:
    return "\n".join(
        f"    <Label value={quoteattr(i.label)} background={quoteattr(i.colour)} "
        f"hotkey={quoteattr(i.hotkey)} hint={quoteattr(i.definition)}/>"
        for i in items
    )


def _choices(name: str, values, *, multiple: bool = False, required: bool = False) -> str:
    options = "\n".join(f"    <Choice value={quoteattr(v)}/>" for v in values)
    return (
        f'  <Choices name="{name}" toName="{IMAGE_NAME}" showInline="true" '
        f'choice="{"multiple" if multiple else "single"}" required="{str(required).lower()}">\n'
        f"{options}\n  </Choices>\n"
    )


def labeling_config(view: str = UNKNOWN_VIEW) -> str:
    """The XML for frames of ``view``; an unknown view offers every structure and point."""
    structures, keypoints = structures_for_view(view), keypoints_for_view(view)
    parts = [
        "<View>\n",
        '  <Header value="Clip $clip_id, frame $frame_index ($time_s s), view $view"/>\n',
        f'  <Image name="{IMAGE_NAME}" value="$image" zoom="true" zoomControl="true"/>\n',
        f'  <BrushLabels name="{BRUSH_NAME}" toName="{IMAGE_NAME}">\n'
        f"{_labels(structures)}\n  </BrushLabels>\n",
    ]
    if keypoints:
        parts.append(
            f'  <KeyPointLabels name="{KEYPOINT_NAME}" toName="{IMAGE_NAME}">\n'
            f"{_labels(keypoints)}\n  </KeyPointLabels>\n"
        )
    absent = [s.label for s in structures] + [k.label for k in keypoints]
    parts += [
        '  <Header value="Not visible in this frame" size="6"/>\n',
        _choices(NOT_VISIBLE_NAME, absent, multiple=True),
        '  <Header value="View, level and image quality" size="6"/>\n',
        _choices(VIEW_NAME, VIEWS, required=True),
        _choices(LEVEL_NAME, LEVELS),
        _choices(QUALITY_NAME, QUALITIES, required=True),
        "</View>\n",
    ]
    return "".join(parts)


def instructions_html(view: str = UNKNOWN_VIEW) -> str:
    """Short definitions shown to annotators in Label Studio's instructions panel."""
    rows = [
        f"<li><b>{escape(i.label)}</b> ({escape(i.hotkey)}): {escape(i.definition)}</li>"
        for i in (*structures_for_view(view), *keypoints_for_view(view))
    ]
    qualities = [f"<li><b>{q}</b>: {escape(QUALITY_DEFINITIONS[q])}</li>" for q in QUALITIES]
    return (
        "<p>Paint each structure you see with its brush; place points with the keypoint "
        "tool. Mark every structure you cannot see under <i>Not visible in this frame</i>, "
        "so that an empty mask always means a judgement, never an omission.</p>"
        f"<ul>{''.join(rows)}</ul><p>Image quality:</p><ul>{''.join(qualities)}</ul>"
    )
