"""Environment of the ML backend process, from the stack's secrets and paths."""

from local_stack.paths import StackPaths
from local_stack.secrets_file import StackSecrets


def backend_environment(secrets: StackSecrets, paths: StackPaths, label_studio_url: str) -> dict:
    return {
        "BACKEND_USERNAME": secrets.backend_username,
        "BACKEND_PASSWORD": secrets.backend_password,
        "BACKEND_WEBHOOK_SECRET": secrets.webhook_secret,
        "BACKEND_MODEL_STORE": str(paths.models.resolve()),
        "BACKEND_MEDIA_ROOT": str(paths.media_root.resolve()),
        "BACKEND_LABEL_STUDIO_URL": label_studio_url,
        "BACKEND_LABEL_STUDIO_TOKEN": secrets.label_studio_token,
        "BACKEND_DATABASE_URL": f"sqlite:///{paths.backend_database.resolve()}",
    }
