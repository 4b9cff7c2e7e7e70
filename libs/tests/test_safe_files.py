"""Names chosen by someone else (S3 keys, archive members) never write outside their destination."""

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path

import pytest

from mlops_contracts.aws import aws_client
from mlops_contracts.safe_files import UnsafePathError, download_s3_prefix, extract_tar, safe_join
from mlops_devstack.emulator import Emulator


@pytest.mark.parametrize(
    "name",
    ["../x", "a/../../x", "/etc/passwd", "", "a\\..\\x", "a/./../../x", "a/\x00"],
)
def test_safe_join_refuses_names_leaving_the_destination(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_join(tmp_path, name)


def test_safe_join_refuses_a_symlink_inside_pointing_out(tmp_path: Path) -> None:
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafePathError, match="resolves outside"):
        safe_join(tmp_path / "dest", "link/x")


def test_safe_join_accepts_nested_names(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "adapter/weights.bin") == tmp_path.resolve() / "adapter" / "weights.bin"


def _archive(tmp_path: Path, *members: tarfile.TarInfo) -> Path:
    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("adapter/adapter_config.json")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"{}"))
        for member in members:
            data = b"pwned" if member.isfile() else None
            if data is not None:
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_member("../../escaped"), "refused"),
        (_member("/tmp/escaped-absolute"), "refused"),
        (_member("adapter/link", tarfile.SYMTYPE, "adapter_config.json"), "is a link"),
        (_member("adapter/out", tarfile.SYMTYPE, "/etc/passwd"), "is a link"),
        (_member("adapter/hard", tarfile.LNKTYPE, "adapter/adapter_config.json"), "is a link"),
        (_member("adapter/null", tarfile.CHRTYPE), "not a file or directory"),
        (_member("adapter/fifo", tarfile.FIFOTYPE), "not a file or directory"),
    ],
)
def test_extract_tar_refuses_links_devices_and_escapes_and_writes_nothing(
    tmp_path: Path, member: tarfile.TarInfo, reason: str
) -> None:
    archive = _archive(tmp_path, member)
    destination = tmp_path / "job" / "extracted"
    with pytest.raises(UnsafePathError, match=reason):
        extract_tar(archive, destination)
    assert list(destination.rglob("*")) == []  # checked whole before the first member is written
    assert not (tmp_path / "escaped").exists()
    assert not Path("/tmp/escaped-absolute").exists()


def test_extract_tar_unpacks_plain_files(tmp_path: Path) -> None:
    archive = _archive(tmp_path, _member("adapter/weights.bin"))
    destination = extract_tar(archive, tmp_path / "extracted")
    assert (destination / "adapter" / "adapter_config.json").read_bytes() == b"{}"
    assert (destination / "adapter" / "weights.bin").read_bytes() == b"pwned"


def test_download_s3_prefix_refuses_a_traversal_key_and_writes_nothing(
    emulator: Emulator, tmp_path: Path
) -> None:
    """The attack as reproduced on the stack: a model prefix holding `m/../../../../<dir>/x`."""
    s3 = aws_client("s3")
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": emulator.region})
    outside = tmp_path / "outside"
    depth = len((tmp_path / "job" / "base-model").parts) - 1
    hostile = "m/" + "../" * depth + str(outside / "x").lstrip("/")
    s3.put_object(Bucket=bucket, Key="m/config.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key=hostile, Body=b"pwned")
    assert any(o["Key"] == hostile for o in s3.list_objects_v2(Bucket=bucket)["Contents"])

    destination = tmp_path / "job" / "base-model"
    with pytest.raises(UnsafePathError, match="would write outside the destination"):
        download_s3_prefix(s3, bucket, "m", destination)
    assert not (outside / "x").exists()
    assert not destination.exists() or list(destination.rglob("*")) == []

    s3.delete_object(Bucket=bucket, Key=hostile)
    assert download_s3_prefix(s3, bucket, "m/", destination) == 1
    assert (destination / "config.json").read_bytes() == b"{}"
