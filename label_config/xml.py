"""The Label Studio labeling config, generated from the schema."""

from xml.sax.saxutils import quoteattr

from label_config.schema import STRUCTURES, VIEWS

IMAGE_NAME = "image"
BRUSH_NAME = "structures"
VIEW_NAME = "view"


def labeling_config() -> str:
    """XML for one project holding frames of both views."""
    labels = "\n".join(
        f"    <Label value={quoteattr(s.label)} background={quoteattr(s.colour)} "
        f"hotkey={quoteattr(s.hotkey)} hint={quoteattr(s.definition)}/>"
        for s in STRUCTURES
    )
    views = "\n".join(f"    <Choice value={quoteattr(v)}/>" for v in VIEWS)
    return (
        "<View>\n"
        f'  <Header value="Clip $clip_id, frame $frame_index ($time_s s), view $view"/>\n'
        f'  <Image name="{IMAGE_NAME}" value="$image" zoom="true" zoomControl="true"/>\n'
        f'  <BrushLabels name="{BRUSH_NAME}" toName="{IMAGE_NAME}">\n{labels}\n  </BrushLabels>\n'
        f'  <Choices name="{VIEW_NAME}" toName="{IMAGE_NAME}" choice="single" showInline="true">\n'
        f"{views}\n  </Choices>\n"
        "</View>\n"
    )
