"""Print a labeling config: ``python -m label_config [long_axis|short_axis|unknown]``."""

import sys

from label_config.xml import CONFIG_VIEWS, UNKNOWN_VIEW, labeling_config

view = sys.argv[1] if len(sys.argv) > 1 else UNKNOWN_VIEW
if view not in CONFIG_VIEWS:
    sys.exit(f"view must be one of {', '.join(CONFIG_VIEWS)}, got {view!r}")
print(labeling_config(view), end="")
