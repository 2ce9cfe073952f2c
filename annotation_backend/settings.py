"""Backend settings, read from the environment once at start-up. Secrets have no defaults."""

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 8

MIB = 1024 * 1024


class BackendSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKEND_", protected_namespaces=())

    username: str
    password: SecretStr
    """HTTP Basic credentials that Label Studio sends on every call."""
    webhook_secret: SecretStr
    """Value of the X-Webhook-Secret header on annotation events, which carry no Basic auth."""
    model_store: Path
    media_root: Path | None = None
    """Label Studio's local-files document root, when the backend shares its disk."""
    label_studio_url: str = "http://127.0.0.1:8080"
    label_studio_token: SecretStr | None = None
    s3_bucket: str | None = None
    """The only bucket whose objects ``s3://`` frame URLs may name; with none, they are refused.
    Credentials and region come from the standard AWS chain (AWS_* variables, ~/.aws, role)."""
    s3_endpoint_url: str | None = None
    """An S3-compatible server such as MinIO; AWS S3 when unset."""
    probability_threshold: float = 0.5
    min_region_px: int = 30
    """Predicted regions smaller than this are dropped as noise."""
    uncertainty_passes: int = Field(8, ge=0)
    """Monte Carlo dropout passes per frame that score its uncertainty for Label Studio's
    uncertainty sampling; 0 scores by the plain confidence of the single deterministic pass, and
    1 is of no use (one pass cannot disagree with itself: every score is 1). About 8 ms of CPU
    per pass on a 480 x 400 frame."""
    database_url: str = "sqlite:///var/backend.sqlite3"
    """State of the learning loop (events, runs, versions): a SQLAlchemy URL such as
    ``postgresql+psycopg://user@host/db``; the default is a SQLite file under ./var."""
    retrain_every_n_events: int = Field(20, ge=1)
    """A training run is queued once this many annotation events await a run."""
    max_request_bytes: int = Field(32 * MIB, ge=1)
    """Larger request bodies are refused with 413 before they are read whole. Measured on
    1280 x 960 frames: a webhook with one annotation of every structure is about 135 KiB and a
    prediction up to about 770 KiB (an untrained model painting everywhere); a task sent to
    /predict carries its annotations and every earlier prediction, so 32 MiB leaves room for
    several tasks of that kind or hundreds of fresh ones."""
    max_predict_tasks: int = Field(256, ge=1)
    """A /predict with more tasks is refused with 413. Label Studio gives up on /predict after
    100 s (its ML_TIMEOUT_PREDICT); at about 0.2 s a 480 x 400 frame on 2 CPU cores, 256 frames
    is near the most that can be answered in time."""

    @field_validator("password", "webhook_secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr) -> SecretStr:
        if len(secret.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"must be at least {MIN_SECRET_LENGTH} characters; generate one with "
                "`openssl rand -hex 24`"
            )
        return secret
