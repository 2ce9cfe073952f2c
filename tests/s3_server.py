"""A moto S3 server on loopback with one private bucket, for the storage and end-to-end tests."""

import uuid
from dataclasses import dataclass

import pytest
from moto.server import ThreadedMotoServer

from upload.storage import S3FrameStore, s3_client

BUCKET = "spine-frames-test"
REGION = "us-east-1"
DUMMY_KEY = "testing"
"""Access key id and secret alike: moto takes any, and tests must never hold real ones."""


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    bucket: str

    @property
    def environment(self) -> dict:
        """The standard AWS variables with which a process reaches this server's bucket."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self):
        return s3_client(self.endpoint_url, self.region)

    def store(self, prefix: str | None = None) -> S3FrameStore:
        """A store under a prefix of its own, so tests sharing the bucket do not meet."""
        return S3FrameStore(self.bucket, prefix or f"test-{uuid.uuid4().hex[:8]}/", self.client())


@pytest.fixture(scope="session")
def s3_server():
    """The server's endpoint URL and dummy credentials; they are also put in this process's
    environment, where the standard AWS chain finds them."""
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    server = S3Server(f"http://{host}:{port}", DUMMY_KEY, DUMMY_KEY, REGION, BUCKET)
    with pytest.MonkeyPatch.context() as environment:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            environment.delenv(name, raising=False)
        for name, value in server.environment.items():
            environment.setenv(name, value)
        server.client().create_bucket(Bucket=BUCKET)
        try:
            yield server
        finally:
            moto.stop()
