"""Posting a gold standard back to Label Studio, for review and adjudication in the labelling UI.

Each gold frame becomes a prediction of model version ``gold-standard-<version>`` on its task.
Predictions, not annotations: an export reads annotations only, so the gold standard is never
counted as one more annotator.
"""

import logging
from pathlib import Path

from label_studio_sdk import LabelStudio

from training.annotations import to_label_studio_result
from training.export.layout import FOLDER_PREFIX
from training.export.reader import import_gold_standard

logger = logging.getLogger(__name__)


def publish_gold_standard(client: LabelStudio, folder: Path) -> int:
    """Post every frame of the verified export in ``folder`` to its task; returns how many.

    A task that already holds a prediction of this version is left as it is. Empty masks are not
    posted (Label Studio cannot draw an empty brush region); "not visible" choices are.
    """
    model_version = Path(folder).name
    if not model_version.startswith(FOLDER_PREFIX):
        raise ValueError(f"{folder} is not named {FOLDER_PREFIX}<version>: pass an export folder")
    posted = 0
    for gold in import_gold_standard(Path(folder)):
        existing = client.predictions.list(task=gold.task_id)
        if any(p.model_version == model_version for p in existing):
            continue
        result = to_label_studio_result(gold)
        client.predictions.create(task=gold.task_id, result=result, model_version=model_version)
        posted += 1
    logger.info("published %d gold frames as predictions of %s", posted, model_version)
    return posted
