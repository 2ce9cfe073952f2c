"""The FastAPI application: Label Studio's ML backend routes.

The champion model is loaded when the process starts and reloaded, without a restart, when the
model store's champion pointer changes (``annotation_backend.serving``). Webhook
events are stored in the state database before they are acknowledged; they may queue a training
run, which a separate worker executes: no training ever runs in a request.

Every route but /health authenticates the caller before its body is read. Bodies over
``max_request_bytes`` are refused with 413 before they are read whole: FastAPI's body limit
checks a declared Content-Length and counts a chunked body as it arrives. No OpenAPI schema or
docs page is served: Label Studio needs none, and they would list the routes to anyone.
"""

import logging
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from annotation_backend.auth import require_basic_auth, require_webhook_auth
from annotation_backend.frames import FrameLoader, FrameUnavailable
from annotation_backend.migrations import open_database
from annotation_backend.predictions import label_studio_prediction, predict_frame
from annotation_backend.serving import ChampionReloader
from annotation_backend.settings import BackendSettings
from annotation_backend.state import (
    ANNOTATION_ACTIONS,
    START_TRAINING,
    EventIds,
    RunTrigger,
    StateStore,
    event_ids,
    make_session_factory,
)
from training.store import ModelNotFound, ModelStore, SegmentationModel

logger = logging.getLogger(__name__)

UNKNOWN_VIEW = "unknown"


class SetupRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    project: str | None = None
    access_token: str | None = None


class SetupResponse(BaseModel):
    model_version: str


class VersionsResponse(BaseModel):
    versions: list[str]
    """Every stored model version, newest first; the champion is the one /setup reports."""


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    tasks: list[dict[str, Any]]


class PredictResponse(BaseModel):
    results: list[dict[str, Any]]


RequestBody = TypeVar("RequestBody", bound=BaseModel)


def create_app(settings: BackendSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.model = _load_champion(settings)
        app.state.champion = ChampionReloader(ModelStore(settings.model_store), app.state.model)
        app.state.frames = FrameLoader.from_settings(settings)
        engine = _open_state(app, settings)
        yield
        app.state.frames.close()
        engine.dispose()

    app = FastAPI(
        title="Spine ultrasound ML backend",
        lifespan=lifespan,
        max_body_size=settings.max_request_bytes,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.get("/health")(health)
    app.post("/setup", dependencies=[Depends(require_basic_auth)])(setup)
    app.post("/predict", dependencies=[Depends(require_basic_auth)])(predict)
    app.post("/webhook", dependencies=[Depends(require_webhook_auth)])(webhook)
    app.get("/versions", dependencies=[Depends(require_basic_auth)])(versions)
    app.exception_handler(OperationalError)(state_unavailable)
    return app


def _open_state(app: FastAPI, settings: BackendSettings) -> Engine:
    """Upgrades the state database and opens it; training runs belong to the worker."""
    engine = open_database(settings.database_url)
    app.state.store = StateStore(make_session_factory(engine))
    return engine


async def state_unavailable(request: Request, error: OperationalError) -> JSONResponse:
    logger.error("state database unavailable: %s", type(error.orig).__name__)
    return JSONResponse({"detail": "state database unavailable"}, status_code=503)


def _load_champion(settings: BackendSettings) -> SegmentationModel | None:
    try:
        model = ModelStore(settings.model_store).load_champion()
    except ModelNotFound as error:
        logger.warning("serving without a model: %s", error)
        return None
    logger.info("loaded model %s", model.version)
    return model


def _serving_model(request: Request) -> SegmentationModel:
    model = request.app.state.model = request.app.state.champion.current()
    if model is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "no champion model: train one first"
        )
    return model


async def health(request: Request) -> dict:
    """Unauthenticated liveness for Label Studio and container health checks; no details."""
    return {"status": "UP", "model_class": "SpineUNet"}


def versions(request: Request) -> VersionsResponse:
    """The model versions Label Studio lists in its model settings."""
    store = ModelStore(request.app.state.settings.model_store)
    return VersionsResponse(versions=sorted(store.versions(), reverse=True))


async def _read_body(request: Request, model: type[RequestBody]) -> RequestBody:
    """The JSON body as ``model``, read by the handler itself: after the route's authentication,
    so that no caller without credentials has its body parsed. Invalid JSON or fields: 422."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from error


async def setup(request: Request) -> SetupResponse:
    body = await _read_body(request, SetupRequest)
    model = _serving_model(request)
    frames: FrameLoader = request.app.state.frames
    if body.access_token and frames.token is None:
        frames.token = body.access_token
    return SetupResponse(model_version=model.version)


async def predict(request: Request) -> PredictResponse:
    """One prediction per task, in the order the tasks came; at most ``max_predict_tasks``."""
    body = await _read_body(request, PredictRequest)
    settings: BackendSettings = request.app.state.settings
    if len(body.tasks) > settings.max_predict_tasks:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{len(body.tasks)} tasks in one /predict; at most {settings.max_predict_tasks} are "
            "predicted per request: select fewer tasks, or raise BACKEND_MAX_PREDICT_TASKS",
        )
    model = _serving_model(request)
    frames: FrameLoader = request.app.state.frames
    results = await run_in_threadpool(
        lambda: [_predict_task(task, model, frames, settings) for task in body.tasks]
    )
    logger.info("predicted %d tasks with model %s", len(results), model.version)
    return PredictResponse(results=results)


def _predict_task(task: dict, model: SegmentationModel, frames: FrameLoader, settings) -> dict:
    task_data = task.get("data")
    if not isinstance(task_data, dict) or not isinstance(task_data.get("image"), str):
        raise HTTPException(
            422,
            f"task {task.get('id')!r} has no data.image URL; the labeling config expects $image",
        )
    try:
        gray = frames.load_gray(task_data["image"])
    except FrameUnavailable as error:
        logger.warning("frame unavailable for task %s: %s", task.get("id"), error)
        return {"result": [], "score": 0.0, "model_version": model.version}
    view = task_data.get("view", UNKNOWN_VIEW)
    prediction = predict_frame(
        model,
        gray,
        view,
        settings.probability_threshold,
        settings.min_region_px,
        settings.uncertainty_passes,
    )
    return label_studio_prediction(prediction, model.version, view)


async def webhook(request: Request) -> dict:
    """Stored, then acknowledged at once, whatever the event; Label Studio waits only briefly.

    A body that is not JSON, or has no string action, is stored with action None; such an
    event, like any action outside ANNOTATION_ACTIONS, never counts towards a retraining.
    """
    try:
        payload = await request.json()
    except ValueError:
        payload = None
    ids = event_ids(payload)
    settings: BackendSettings = request.app.state.settings
    await run_in_threadpool(
        _store_event, request.app.state.store, ids, settings.retrain_every_n_events
    )
    return {"status": "ok", "action": ids.action}


def _store_event(store: StateStore, ids: EventIds, retrain_every_n_events: int) -> None:
    event_id = store.record_event(ids)
    logger.info("webhook stored %s as event %d", ids.action or "an event without action", event_id)
    trigger = _training_trigger(store, ids.action, retrain_every_n_events)
    if trigger is not None:
        store.enqueue_training(trigger)


def _training_trigger(store: StateStore, action: str | None, every_n: int) -> RunTrigger | None:
    if action == START_TRAINING:
        return RunTrigger.START_TRAINING
    if action in ANNOTATION_ACTIONS and store.pending_event_count() >= every_n:
        return RunTrigger.EVENTS
    return None
