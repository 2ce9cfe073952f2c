"""Label Studio's ML backend protocol in FastAPI: pre-labels frames with the champion model."""
