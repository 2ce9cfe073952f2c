"""Environment of the ML backend process, from the stack's secrets and paths, and of Label
Studio when it keeps its state in PostgreSQL instead of its SQLite file."""

from sqlalchemy.engine import make_url

from local_stack.paths import StackPaths
from local_stack.secrets_file import StackSecrets


def backend_environment(
    secrets: StackSecrets,
    paths: StackPaths,
    label_studio_url: str,
    database_url: str | None = None,
) -> dict:
    """``database_url`` (a SQLAlchemy URL) is the state database; None keeps the SQLite file
    under the state folder."""
    return {
        "BACKEND_USERNAME": secrets.backend_username,
        "BACKEND_PASSWORD": secrets.backend_password,
        "BACKEND_WEBHOOK_SECRET": secrets.webhook_secret,
        "BACKEND_MODEL_STORE": str(paths.models.resolve()),
        "BACKEND_MEDIA_ROOT": str(paths.media_root.resolve()),
        "BACKEND_LABEL_STUDIO_URL": label_studio_url,
        "BACKEND_LABEL_STUDIO_TOKEN": secrets.label_studio_token,
        "BACKEND_DATABASE_URL": database_url or f"sqlite:///{paths.backend_database.resolve()}",
    }


def label_studio_database_environment(database_url: str) -> dict:
    """Label Studio's variables for a PostgreSQL database named by a URL such as
    ``postgresql://user:password@host:5432/name`` (a ``+driver`` suffix is ignored)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        raise ValueError(
            f"Label Studio's database must be a PostgreSQL URL with a database name, such as "
            f"postgresql://postgres@127.0.0.1:5432/labelstudio; got {url!r}"
        )
    return {
        "DJANGO_DB": "default",
        "POSTGRE_NAME": url.database,
        "POSTGRE_USER": url.username or "postgres",
        "POSTGRE_PASSWORD": url.password or "",
        "POSTGRE_HOST": url.host or "127.0.0.1",
        "POSTGRE_PORT": str(url.port or 5432),
    }
