"""The upload command as an operator runs it."""

import shutil

from typer.testing import CliRunner

from upload.__main__ import app


def test_a_bad_clip_is_named_the_rest_is_stored_and_the_exit_status_is_1(tmp_path, real_clips_dir):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(real_clips_dir / "clarius-ocular-short.mp4", clips / "good.mp4")
    (clips / "broken.mp4").write_bytes(b"\x00\x01" * 2000)
    state = tmp_path / "var"

    result = CliRunner().invoke(
        app, [str(clips), "--state-dir", str(state), "--no-tasks", "--frame-step", "25"]
    )

    assert result.exit_code == 1
    assert "broken.mp4" in result.output and "FAILED" in result.output
    assert "2 clips, 1 failed, 0 already stored, 2 frames stored" in result.output
    assert len(list((state / "media" / "frames").rglob("*.png"))) == 2
    assert (state / "secrets.json").stat().st_mode & 0o777 == 0o600


def test_a_clean_batch_exits_0_and_a_rerun_stores_nothing_new(tmp_path, real_clips_dir):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(real_clips_dir / "clarius-ocular-short.mp4", clips / "good.mp4")
    arguments = [str(clips), "--state-dir", str(tmp_path / "var"), "--no-tasks"]

    first = CliRunner().invoke(app, arguments)
    second = CliRunner().invoke(app, arguments)

    assert first.exit_code == second.exit_code == 0
    assert "1 clips, 0 failed, 0 already stored, 5 frames stored" in first.output
    assert "1 clips, 0 failed, 1 already stored, 5 frames stored" in second.output


def test_clips_from_an_s3_prefix_land_as_frames_in_the_bucket(tmp_path, real_clips_dir, s3_server):
    client = s3_server.client()
    client.upload_file(
        str(real_clips_dir / "clarius-ocular-short.mp4"),
        s3_server.bucket,
        "incoming/long_axis/scan.mp4",
    )
    client.put_object(Bucket=s3_server.bucket, Key="incoming/broken.avi", Body=b"\x00" * 900)
    frames_uri = f"s3://{s3_server.bucket}/deidentified"

    result = CliRunner().invoke(
        app,
        [
            f"s3://{s3_server.bucket}/incoming",
            "--store",
            frames_uri,
            "--s3-endpoint-url",
            s3_server.endpoint_url,
            "--state-dir",
            str(tmp_path / "var"),
            "--no-tasks",
            "--frame-step",
            "25",
        ],
    )

    stored = client.list_objects_v2(Bucket=s3_server.bucket, Prefix="deidentified/")["Contents"]
    assert result.exit_code == 1
    assert "broken.avi" in result.output
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in stored) == ["000000.png", "000025.png"]
    assert not (tmp_path / "var" / "media").exists()
