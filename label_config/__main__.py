"""Print the labeling config: ``python -m label_config``."""

from label_config.xml import labeling_config

print(labeling_config(), end="")
