"""Fake, seeded patient identifiers for the burned-in header and the DICOM header.

They are deliberately distinctive strings (``DOE^JANE^7341``, ``PH-123456``) so that
de-identification checks can search for them in pixels and headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

_FAMILY = ("DOE", "ROE", "POE", "MOE", "ZOE", "LOE")
_GIVEN = ("JANE", "JOHN", "AVA", "NOAH", "MILA", "LEVI", "ISLA", "OSKAR")
_TOWN = ("RIVERBEND", "LAKESHORE", "NORTHGATE", "WESTFIELD", "HILLCREST", "BAYVIEW")


@dataclass(frozen=True)
class FakeIdentity:
    """Identifiers of a fake infant and study; dates are YYYYMMDD strings."""

    patient_name: str
    patient_id: str
    birth_date: str
    institution: str
    study_date: str
    study_time: str
    """HHMMSS."""

    def as_dict(self) -> dict[str, str]:
        """The four identifiers burned into the header band."""
        return {
            "patient_name": self.patient_name,
            "patient_id": self.patient_id,
            "birth_date": self.birth_date,
            "institution": self.institution,
        }


def fake_identity(rng: np.random.Generator, weight_kg: float) -> FakeIdentity:
    """Draw identifiers; the infant's age (days) loosely follows its weight."""
    study = date(2023, 1, 1) + timedelta(days=int(rng.integers(0, 730)))
    age_days = int(np.clip((weight_kg - 3.3) / 0.03 + rng.normal(0.0, 10.0), 1, 150))
    seconds = int(rng.integers(7 * 3600, 22 * 3600))
    return FakeIdentity(
        patient_name=f"{rng.choice(_FAMILY)}^{rng.choice(_GIVEN)}^{int(rng.integers(1000, 10000))}",
        patient_id=f"PH-{int(rng.integers(0, 1_000_000)):06d}",
        birth_date=(study - timedelta(days=age_days)).strftime("%Y%m%d"),
        institution=f"{rng.choice(_TOWN)} CHILDRENS HOSPITAL {int(rng.integers(100, 1000))}",
        study_date=study.strftime("%Y%m%d"),
        study_time=f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}",
    )
