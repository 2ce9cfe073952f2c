"""The model that serves predictions, reloaded when the store's champion pointer changes.

Requests ask for the model at their start and keep that object to the end, so a swap never
changes a model under a request. The pointer is read at most once per ``check_interval_s``; a
new champion is loaded completely, by one thread, before it replaces the old one; meanwhile the
other requests go on with the old model. A champion that fails to load is logged and the old
model keeps serving.
"""

import logging
import threading
import time

from training.store import ModelNotFound, ModelStore, SegmentationModel

logger = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0


class ChampionReloader:
    """Holds the serving model; ``current()`` returns it, first picking up a new champion."""

    def __init__(
        self,
        store: ModelStore,
        model: SegmentationModel | None,
        check_interval_s: float = CHECK_INTERVAL_S,
    ):
        self.store = store
        self.model = model
        self.check_interval_s = check_interval_s
        self._checked_at = time.monotonic()
        self._reloading = threading.Lock()

    def current(self) -> SegmentationModel | None:
        """The model to serve this request with (None while the store has no champion)."""
        if time.monotonic() - self._checked_at >= self.check_interval_s:
            self._check()
        return self.model

    def _check(self) -> None:
        # Non-blocking: while one thread loads a new champion, others serve the old model.
        if not self._reloading.acquire(blocking=False):
            return
        try:
            self._checked_at = time.monotonic()
            version = self.store.champion()
            if version is not None and (self.model is None or version != self.model.version):
                self._swap(version)
        finally:
            self._reloading.release()

    def _swap(self, version: str) -> None:
        try:
            loaded = self.store.load(version)
        except (ModelNotFound, OSError, RuntimeError, ValueError) as error:
            logger.warning(
                "champion %s not loaded, still serving the old model: %s", version, error
            )
            return
        previous = self.model.version if self.model is not None else None
        self.model = loaded
        logger.info("serving model %s (was %s)", version, previous)
