"""Writing what comes from outside (S3 keys, archive members) onto the local disk, never outside its place.

Every worker downloads model folders and unpacks training artifacts whose names someone else chose: a key
like `m/../../../../tmp/x` or an archive member that is absolute, a link or a device must not write
anywhere but under the job's own directory. This is the one helper every worker uses for that.
"""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath
from typing import Any


class UnsafePathError(ValueError):
    """A key or archive member that would land outside its destination, or is not a plain file."""


def safe_join(destination: Path, relative: str) -> Path:
    """`destination / relative`, refused unless it stays strictly inside `destination`.

    Checks the name itself (absolute, `..`, empty parts) and then the resolved path, so a symlink already
    inside the destination cannot redirect the write either.
    """
    parts = PurePosixPath(relative).parts
    if not relative or relative.startswith(("/", "\\")) or PurePosixPath(relative).is_absolute():
        raise UnsafePathError(f"absolute or empty name refused: {relative!r}")
    if ".." in parts or "\\" in relative or "\x00" in relative:
        raise UnsafePathError(f"name leaves its directory: {relative!r}")
    root = destination.resolve()
    target = (root / relative).resolve()
    if root not in target.parents:
        raise UnsafePathError(f"name resolves outside {root}: {relative!r}")
    return target


def download_s3_prefix(s3: Any, bucket: str, prefix: str, destination: Path) -> int:
    """Copy every object under `s3://bucket/prefix` to `destination`; returns how many were copied.

    Every key is checked before anything is written, so a prefix holding one hostile key writes nothing.
    """
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    planned: list[tuple[str, Path]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            if not relative or relative.endswith("/"):
                continue  # folder markers
            try:
                planned.append((item["Key"], safe_join(destination, relative)))
            except UnsafePathError:
                raise UnsafePathError(f"key {item['Key']!r} would write outside the destination") from None
    for key, target in planned:
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
    return len(planned)


def _plain_members_only(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    # The stdlib's `data` filter already refuses absolute names, `..`, devices and links pointing outside;
    # an artifact has no reason to hold any link at all, so links are refused too.
    if member.issym() or member.islnk():
        raise UnsafePathError(f"archive member is a link: {member.name!r} -> {member.linkname!r}")
    if not (member.isfile() or member.isdir()):
        raise UnsafePathError(f"archive member is not a file or directory: {member.name!r}")
    if member.name not in (".", "./"):  # the archive's own root entry
        try:  # the data filter would only strip a leading "/": an absolute name is refused here
            safe_join(Path(path), member.name.removeprefix("./"))
        except UnsafePathError as exc:
            raise UnsafePathError(f"archive member refused: {exc}") from None
    try:
        return tarfile.data_filter(member, path)
    except tarfile.FilterError as exc:
        raise UnsafePathError(f"archive member refused: {exc}") from None


def extract_tar(archive: Path, destination: Path) -> Path:
    """Unpack a (compressed) tar archive of plain files and directories under `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:  # all checked before the first byte is written
            _plain_members_only(member, str(destination))
        tar.extractall(destination, members=members, filter=_plain_members_only)  # noqa: S202 (filtered)
    return destination
