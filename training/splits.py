"""The split file: which clips train, which choose the model, which are held out for the test.

Neighbouring frames of a clip are near copies, so the unit of the split is the clip, or the
infant when it is known (all clips of one infant land on one side). A clip's side is decided the
first time the clip is seen and written to the file; it never moves afterwards, so the hold-out
test clips stay unseen by training and model selection however many clips arrive later.

New groups are placed one at a time in the order of a stable hash of their id. While a side is
still empty, the group fills it (training, then validation, then test), so that even two clips
give a model to train and one to choose it with. After that each group goes to the side that
lies furthest below its target share among the groups of the same view (ties: test, then
validation, then training). The split is therefore stratified by view, reproducible from the
same clips, and independent of the order in which clips arrive within one call.

Format (JSON)::

    {"format": 1, "fractions": {"training": 0.6, "validation": 0.2, "test": 0.2},
     "clips": {"<clip id>": {"side": "test", "view": "long_axis", "group": "infant:<id>"}}}
"""

import fcntl
import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TRAINING = "training"
VALIDATION = "validation"
TEST = "test"
SIDES = (TRAINING, VALIDATION, TEST)
_TIE_ORDER = (TEST, VALIDATION, TRAINING)
DEFAULT_FRACTIONS = {TRAINING: 0.6, VALIDATION: 0.2, TEST: 0.2}
FORMAT = 1


class SplitError(ValueError):
    """The split file is unreadable, or a clip contradicts what the file already holds."""


@dataclass(frozen=True)
class ClipRef:
    """A clip as the split sees it. ``infant_id`` groups clips of one infant when known."""

    clip_id: str
    view: str
    infant_id: str | None = None

    @property
    def group(self) -> str:
        return f"infant:{self.infant_id}" if self.infant_id else f"clip:{self.clip_id}"


@dataclass(frozen=True)
class Split:
    """Clip ids per side."""

    training: frozenset[str]
    validation: frozenset[str]
    test: frozenset[str]

    def side_of(self, clip_id: str) -> str | None:
        for side in SIDES:
            if clip_id in getattr(self, side):
                return side
        return None


class SplitFile:
    """A split file on disk; ``assign`` adds clips it has not seen and returns the whole split.

    Concurrent callers (the worker, a training command, an evaluation) are serialised by an
    exclusive lock on a file beside it, and the file is replaced atomically.
    """

    def __init__(self, path: Path, fractions: dict[str, float] | None = None):
        self.path = Path(path)
        self.requested_fractions = fractions

    def assign(self, clips: Iterable[ClipRef]) -> Split:
        clips = list(clips)
        with self._locked():
            document = self._read()
            known = document["clips"]
            fractions = document["fractions"]
            new_groups = _new_groups(clips, known)
            for group_id, members in sorted(new_groups.items(), key=lambda item: _hash(item[0])):
                side = _side_of_group(group_id, known) or _neediest_side(
                    members[0].view, known, fractions
                )
                for clip in members:
                    known[clip.clip_id] = {"side": side, "view": clip.view, "group": group_id}
            if new_groups or not self.path.exists():
                self._write(document)
        return split_from_document(document)

    def read(self) -> Split:
        """The split as stored, without adding anything; an empty split when there is no file."""
        with self._locked():
            return split_from_document(self._read())

    def _read(self) -> dict:
        if not self.path.exists():
            fractions = self.requested_fractions or DEFAULT_FRACTIONS
            _check_fractions(fractions, self.path)
            return {"format": FORMAT, "fractions": dict(fractions), "clips": {}}
        try:
            document = json.loads(self.path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise SplitError(f"{self.path}: not a readable split file ({error})") from error
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise SplitError(f"{self.path}: not a split file of format {FORMAT}")
        _check_fractions(document.get("fractions"), self.path)
        if self.requested_fractions and self.requested_fractions != document["fractions"]:
            raise SplitError(
                f"{self.path} was made with fractions {document['fractions']}; a split never "
                f"changes once made: use another file for {self.requested_fractions}"
            )
        return document

    def _write(self, document: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".split-", dir=self.path.parent)
        with os.fdopen(handle, "w") as out:
            json.dump(document, out, indent=1, sort_keys=True)
        os.replace(temporary, self.path)

    @contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def split_from_document(document: dict) -> Split:
    sides = {side: set() for side in SIDES}
    for clip_id, entry in document["clips"].items():
        sides[entry["side"]].add(clip_id)
    return Split(*(frozenset(sides[side]) for side in SIDES))


def _new_groups(clips: list[ClipRef], known: dict) -> dict[str, list[ClipRef]]:
    groups: dict[str, list[ClipRef]] = {}
    for clip in clips:
        entry = known.get(clip.clip_id)
        if entry is None:
            groups.setdefault(clip.group, []).append(clip)
        elif entry["group"] != clip.group:
            raise SplitError(
                f"clip {clip.clip_id!r} was split as part of {entry['group']!r}, now it claims "
                f"{clip.group!r}: a clip cannot change infant once split"
            )
    return groups


def _side_of_group(group_id: str, known: dict) -> str | None:
    """Clips of an infant already split go where the infant's other clips are."""
    for entry in known.values():
        if entry["group"] == group_id:
            return entry["side"]
    return None


def _neediest_side(view: str, known: dict, fractions: dict[str, float]) -> str:
    filled = {e["side"] for e in known.values()}
    for side in SIDES:
        if side not in filled and fractions[side] > 0:
            return side
    groups = {(e["group"], e["side"]) for e in known.values() if e["view"] == view}
    counts = Counter(side for _, side in groups)
    total = sum(counts.values()) + 1
    deficit = {side: fractions[side] * total - counts[side] for side in SIDES}
    return max(_TIE_ORDER, key=lambda side: (deficit[side], -_TIE_ORDER.index(side)))


def _hash(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _check_fractions(fractions, where: Path) -> None:
    if (
        not isinstance(fractions, dict)
        or set(fractions) != set(SIDES)
        or any(not isinstance(v, int | float) or v < 0 for v in fractions.values())
        or abs(sum(fractions.values()) - 1.0) > 1e-9
    ):
        raise SplitError(
            f"{where}: fractions must give {', '.join(SIDES)} as non-negative shares summing "
            f"to 1, not {fractions!r}"
        )
