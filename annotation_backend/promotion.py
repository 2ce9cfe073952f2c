"""Gated promotion of a candidate model version, and rollback to the previous champion.

A candidate becomes champion only when its mean validation Dice, over the structures present
in the validation masks, is not worse than the champion's on the same validation samples; both
are evaluated here, so the comparison never mixes data sets. Promotion replaces the store's
champion pointer (one ``os.replace``, which serving processes pick up on their own), then
records the statuses in one database transaction: old champion retired, candidate champion.
"""

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from annotation_backend.state import ModelVersion, VersionStatus
from training.annotation_dataset import AnnotationSamples
from training.finetune import present_structures
from training.loop import validation_dice
from training.store import ModelNotFound, ModelStore

logger = logging.getLogger(__name__)


class RollbackImpossible(LookupError):
    """The champion has no previous champion recorded to return to."""


class VersionLedger:
    """Model version statuses in the state database; every method commits before it returns."""

    def __init__(self, sessions: sessionmaker):
        self._sessions = sessions

    def status(self, version: str) -> VersionStatus | None:
        with self._sessions() as session:
            row = session.get(ModelVersion, version)
            return row.status if row is not None else None

    def set_status(self, version: str, status: VersionStatus) -> None:
        """Sets the status, adding the version when the database does not know it yet."""
        with self._sessions.begin() as session:
            _set_status(session, version, status)

    def replace_champion(self, new: str, old: str | None) -> None:
        """In one transaction: ``old`` (and any other champion row) retired, ``new`` champion."""
        with self._sessions.begin() as session:
            champions = select(ModelVersion).where(ModelVersion.status == VersionStatus.CHAMPION)
            for row in session.scalars(champions.with_for_update()):
                row.status = VersionStatus.RETIRED
            if old is not None:
                _set_status(session, old, VersionStatus.RETIRED)
            _set_status(session, new, VersionStatus.CHAMPION)


def _set_status(session: Session, version: str, status: VersionStatus) -> None:
    row = session.get(ModelVersion, version, with_for_update=True)
    if row is None:
        # Versions trained outside the loop (e.g. on phantoms) have no row until they move.
        session.add(ModelVersion(version=version, status=status, metrics={}, data_snapshot={}))
    else:
        row.status = status


@dataclass(frozen=True)
class GateDecision:
    """Both versions' mean validation Dice over ``structures`` (present in the validation
    masks) and whether the candidate is promoted."""

    candidate: str
    champion: str
    candidate_dice: dict[str, float]
    champion_dice: dict[str, float]
    structures: tuple[str, ...]
    candidate_mean: float
    champion_mean: float

    @property
    def promote(self) -> bool:
        return self.candidate_mean >= self.champion_mean


def evaluate_gate(store: ModelStore, candidate: str, validation: AnnotationSamples) -> GateDecision:
    """Evaluates the candidate and the current champion on the same validation samples.

    A structure present in the validation masks that a model never predicts counts as Dice 0.
    With no structure present at all, both means are 0.0 and the candidate passes (not worse).
    """
    champion_model = store.load_champion()
    candidate_model = store.load(candidate)
    spec = champion_model.spec
    structures = present_structures(validation.masks, spec)
    scores = [
        _dice_over(model, validation, structures) for model in (candidate_model, champion_model)
    ]
    means = [_mean_over(dice, structures) for dice in scores]
    return GateDecision(candidate, champion_model.version, *scores, structures, means[0], means[1])


def _dice_over(model, validation: AnnotationSamples, structures) -> dict[str, float]:
    dice = validation_dice(
        model.network, validation.images, validation.masks, model.spec.structures
    )
    return {key: dice.get(key, 0.0) for key in structures}


def _mean_over(dice: dict[str, float], structures: tuple[str, ...]) -> float:
    if not structures:
        return 0.0
    return round(sum(dice.get(key, 0.0) for key in structures) / len(structures), 4)


def promote(store: ModelStore, ledger: VersionLedger, candidate: str) -> str | None:
    """Makes ``candidate`` the champion, pointer first; returns the previous champion."""
    previous = store.champion()
    store.promote(candidate)
    # The pointer is what serves; a database failure here leaves statuses to repair by hand.
    ledger.replace_champion(candidate, previous)
    logger.info("promoted model %s (was %s)", candidate, previous)
    return previous


def reject(ledger: VersionLedger, candidate: str) -> None:
    """Retires a candidate that did not pass the gate; the champion is untouched."""
    ledger.set_status(candidate, VersionStatus.RETIRED)
    logger.info("rejected model %s: worse than the champion on validation", candidate)


def previous_champion(store: ModelStore) -> str:
    """The version the current champion was fine-tuned from (its ``parent_version``)."""
    champion = store.champion()
    if champion is None:
        raise RollbackImpossible(f"no champion in {store.root}: nothing to roll back")
    parent = store.load(champion).metadata.get("parent_version")
    if parent is None or parent not in store.versions():
        raise RollbackImpossible(f"champion {champion} has no previous champion in the store")
    return parent


def rollback(store: ModelStore, ledger: VersionLedger) -> tuple[str, str]:
    """Makes the previous champion the champion again; returns (retired, restored).

    Repeated rollbacks walk back the chain of parents. Raises RollbackImpossible when the
    champion was not made by fine-tuning (e.g. trained on phantoms from scratch).
    """
    current = store.champion()
    restored = previous_champion(store)
    try:
        store.promote(restored)
    except ModelNotFound as error:
        raise RollbackImpossible(str(error)) from error
    ledger.replace_champion(restored, current)
    logger.info("rolled back model %s to %s", current, restored)
    return current, restored
