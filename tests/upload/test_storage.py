"""Frame stores: a local folder and an S3 bucket meet one contract; keys cannot escape either."""

import httpx
import pytest

from upload.storage import InvalidKey, LocalFrameStore, S3FrameStore, validate_key
from upload.storage.local import LOCAL_FILES_URL
from upload.storage.s3 import normalise_prefix, parse_s3_uri

PNG = b"\x89PNG\r\n\x1a\n frame bytes"
KEY = "frames/clip-0123/000010.png"
UNSAFE_KEYS = [
    "../x",
    "frames/../../x",
    "frames/./x.png",
    "/etc/passwd",
    "frames//x.png",
    "frames/x.png/",
    "",
    "frames/x y.png",
    "frames\\x.png",
    "frames/x?.png",
    "frames/ü.png",
    ".hidden",
]


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalFrameStore(tmp_path / "media")
    return request.getfixturevalue("s3_server").store()


def test_a_stored_frame_reads_back_unchanged(store):
    store.put(KEY, PNG, "image/png")

    assert store.exists(KEY)
    assert store.get(KEY) == PNG


def test_a_second_put_replaces_the_first(store):
    store.put(KEY, b"old", "image/png")
    store.put(KEY, PNG, "image/png")

    assert store.get(KEY) == PNG


def test_a_missing_frame_does_not_exist_and_cannot_be_read(store):
    store.put(KEY, PNG, "image/png")

    assert not store.exists("frames/clip-0123/000020.png")
    with pytest.raises(FileNotFoundError):
        store.get("frames/clip-0123/000020.png")


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_every_operation_refuses_an_unsafe_key(store, key):
    with pytest.raises(InvalidKey):
        store.put(key, PNG, "image/png")
    with pytest.raises(InvalidKey):
        store.get(key)
    with pytest.raises(InvalidKey):
        store.exists(key)
    with pytest.raises(InvalidKey):
        store.task_url(key)


def test_plain_relative_keys_are_valid():
    for key in (KEY, "a", "frames/A-1_b.2.png"):
        assert validate_key(key) == key


def test_local_task_url_is_label_studios_local_files_link(tmp_path):
    assert LocalFrameStore(tmp_path).task_url(KEY) == LOCAL_FILES_URL + KEY


def test_s3_task_url_names_bucket_prefix_and_key(s3_server):
    store = s3_server.store("run-1")

    assert store.task_url(KEY) == f"s3://{s3_server.bucket}/run-1/{KEY}"


def test_s3_objects_keep_their_content_type_and_refuse_anonymous_reads(s3_server):
    store = s3_server.store()
    store.put(KEY, PNG, "image/png")

    head = store.client.head_object(Bucket=store.bucket, Key=store.prefix + KEY)
    anonymous = httpx.get(f"{s3_server.endpoint_url}/{store.bucket}/{store.prefix}{KEY}")

    assert head["ContentType"] == "image/png"
    assert anonymous.status_code == 403


def test_a_store_from_a_uri_uses_its_bucket_and_prefix(s3_server):
    store = S3FrameStore.from_uri(
        f"s3://{s3_server.bucket}/from-uri/run-2", s3_server.endpoint_url, s3_server.region
    )
    store.put(KEY, PNG, "image/png")

    assert (store.bucket, store.prefix) == (s3_server.bucket, "from-uri/run-2/")
    assert s3_server.store("from-uri/run-2/").get(KEY) == PNG


@pytest.mark.parametrize(
    "uri", ["https://bucket/x", "s3:/bucket/x", "s3://", "s3://B_ucket/x", "s3://ab/x"]
)
def test_a_uri_that_names_no_bucket_is_refused(uri):
    with pytest.raises(ValueError, match="s3://<bucket>|bucket name"):
        parse_s3_uri(uri)


@pytest.mark.parametrize(
    ("prefix", "normalised"), [("", ""), ("/", ""), ("a/b", "a/b/"), ("a/b/", "a/b/")]
)
def test_prefixes_end_with_one_slash(prefix, normalised):
    assert normalise_prefix(prefix) == normalised


def test_a_prefix_that_climbs_out_is_refused():
    with pytest.raises(InvalidKey):
        normalise_prefix("frames/../other")
