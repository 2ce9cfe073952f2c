"""Serve the backend: ``python -m annotation_backend [--host 127.0.0.1] [--port 9090]``."""

import argparse
import logging

import uvicorn

from annotation_backend.app import create_app
from annotation_backend.settings import BackendSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9090)
    arguments = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(BackendSettings())
    uvicorn.run(app, host=arguments.host, port=arguments.port, log_level="info")


if __name__ == "__main__":
    main()
