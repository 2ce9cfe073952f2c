"""The schema and the configs generated from it."""

import xml.etree.ElementTree as ElementTree

import pytest

from label_config import KEYPOINTS, LONG_AXIS, SHORT_AXIS, STRUCTURES
from label_config.xml import CONFIG_VIEWS, instructions_html, labeling_config
from training.model import ModelSpec


def labels_of(config: str, tag: str) -> list[str]:
    root = ElementTree.fromstring(config)
    return [label.get("value") for element in root.iter(tag) for label in element]


def test_every_label_has_its_own_hotkey_and_colour():
    items = (*STRUCTURES, *KEYPOINTS)

    assert len({i.hotkey for i in items}) == len(items)
    assert len({i.colour for i in items}) == len(items)
    assert len({i.label for i in items}) == len(items)


def test_long_axis_config_offers_its_structures_and_points_only():
    config = labeling_config(LONG_AXIS)

    assert labels_of(config, "BrushLabels") == [
        "Spinous process / lamina",
        "Interspinous window",
        "Ligamentum flavum / posterior dura",
        "Subarachnoid CSF",
        "Spinal cord / conus medullaris",
        "Cauda equina / nerve roots",
        "Vertebral body / anterior complex",
    ]
    assert labels_of(config, "KeyPointLabels") == ["Conus tip", "Suggested needle entry"]


def test_short_axis_config_has_the_thecal_sac_and_no_points():
    config = labeling_config(SHORT_AXIS)

    assert "Thecal sac" in labels_of(config, "BrushLabels")
    assert "Interspinous window" not in labels_of(config, "BrushLabels")
    assert labels_of(config, "KeyPointLabels") == []


@pytest.mark.parametrize("view", CONFIG_VIEWS)
def test_each_config_asks_for_view_level_quality_and_not_visible(view):
    root = ElementTree.fromstring(labeling_config(view))
    choices = {c.get("name"): c for c in root.iter("Choices")}

    assert set(choices) == {"view", "level", "quality", "not_visible"}
    assert choices["quality"].get("required") == "true"
    assert [c.get("value") for c in choices["level"]][-1] == "unknown"
    brushes = labels_of(labeling_config(view), "BrushLabels")
    points = labels_of(labeling_config(view), "KeyPointLabels")
    assert [c.get("value") for c in choices["not_visible"]] == brushes + points


def test_instructions_define_every_label_of_the_view():
    html = instructions_html(LONG_AXIS)

    assert "Conus tip" in html and "Interspinous window" in html and "Thecal sac" not in html


def test_model_classes_are_the_schema_structures_in_order():
    assert ModelSpec().structures == tuple(s.key for s in STRUCTURES)
