"""Zipped submissions: what a zip holds, and unpacking it safely.

A zip is refused as a whole, with a message naming it and the reason, when
any member could land outside the folder it is unpacked into (an absolute
path, `..`), is not a regular file or folder (a symbolic link, a device), is
password-protected, or when the zip looks like a bomb: too many members,
too much unpacked data, or data compressed far more than real files are.

It also tells when each member was written: an LMS's download stamps each
file with the time it was submitted.
"""

from __future__ import annotations

import lzma
import re
import shutil
import stat
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class ZipLimits:
    members: int = 10_000
    unpacked_bytes: int = 2_000_000_000  # all files together, unpacked
    ratio: float = 200  # unpacked / compressed size of one file, checked above `ratio_from_bytes`
    ratio_from_bytes: int = 1_000_000  # small files may compress far better harmlessly (blank data)


class ZipRefused(Exception):
    """The zip is not unpacked; the message, for the student, names it, says why and what to do.

    `reason` is the message without the advice, for a caller that advises someone else (a TA)."""

    def __init__(self, reason: str, advice: str = "") -> None:
        super().__init__(f"{reason}; {advice}" if advice else reason)
        self.reason = reason


@dataclass(frozen=True)
class ZipContents:
    root: PurePosixPath  # the one folder everything is in, or "." : it stands for the submission folder
    files: dict[PurePosixPath, float]  # each file's path under `root` -> its modification time (epoch seconds)
    written: dict[PurePosixPath, datetime | None]  # each file's path under `root` -> when it was written (`written_at`)


_DRIVE = re.compile(r"^[A-Za-z]:")


def list_zip(path: Path, ignored: frozenset[str], limits: ZipLimits = ZipLimits()) -> ZipContents:
    """What `path` holds, checked; members in a folder named in `ignored` are left out."""
    with _open(path) as archive:
        root, members = _checked_members(path.name, archive, ignored, limits)
    return ZipContents(
        root=root,
        files={member.relative_to(root): time.mktime(info.date_time + (0, 0, -1)) for info, member in members},
        written={member.relative_to(root): written_at(info) for info, member in members})


_EXTENDED_TIMESTAMP = 0x5455  # Info-ZIP's extra field: flags, then the modification time in Unix seconds (UTC)


def written_at(info: zipfile.ZipInfo) -> datetime | None:
    """When the member was written, in UTC; None when the zip recorded no date.

    A zip's own date and time carries no zone: it is the writing machine's local time, read here as UTC (the
    servers that write LMS downloads usually run in UTC; nothing in the zip says otherwise). A member with an
    extended timestamp gives its true UTC time, which is used instead."""
    extra = info.extra
    while len(extra) >= 4:
        kind, size = struct.unpack("<HH", extra[:4])
        data = extra[4:4 + size]
        if kind == _EXTENDED_TIMESTAMP and len(data) >= 5 and data[0] & 0x1:
            return datetime.fromtimestamp(struct.unpack("<i", data[1:5])[0], timezone.utc)
        extra = extra[4 + size:]
    try:
        return datetime(*info.date_time, tzinfo=timezone.utc)
    except ValueError:  # zeros (month 0, day 0): no date was recorded
        return None


def unzip(path: Path, into: Path, ignored: frozenset[str], limits: ZipLimits = ZipLimits()) -> Path:
    """Unpack the checked files of `path` into the empty folder `into`; returns the submission folder in it."""
    with _open(path) as archive:
        root, members = _checked_members(path.name, archive, ignored, limits)
        for info, member in members:
            target = into.joinpath(*member.parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
            # UnicodeDecodeError: the member's local header, read only now, names it in bytes that are not UTF-8
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, lzma.LZMAError, NotImplementedError,
                    UnicodeDecodeError) as err:
                reason = err.strerror if isinstance(err, OSError) and err.strerror else err  # no grader paths
                raise ZipRefused(f"{path.name} could not be unpacked: {str(member)!r}: {reason}") from None
    return into.joinpath(*root.parts)


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    # NotImplementedError: a member needs a zip version zipfile cannot read ("zip file version 21.3")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise ZipRefused(f"{path.name} is not a readable zip file: {err}") from None


def _checked_members(name: str, archive: zipfile.ZipFile, ignored: frozenset[str],
                     limits: ZipLimits) -> tuple[PurePosixPath, list[tuple[zipfile.ZipInfo, PurePosixPath]]]:
    """(the folder everything is in, the regular files to unpack with their paths), or ZipRefused."""
    infos = archive.infolist()
    if len(infos) > limits.members:
        raise ZipRefused(f"{name} was not unpacked: it holds {len(infos):,} files and folders, "
                         f"more than the {limits.members:,} the grader unpacks")
    refused = f"{name} was not unpacked:"
    members: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    unpacked = 0
    for info in infos:
        text = info.filename.replace("\\", "/")  # zips made on Windows may separate folders with backslashes
        if not text:  # no file can be written under it (and zipfile's own checks of the name fail on it)
            raise ZipRefused(f"{refused} one of its members has no name (the zip is damaged)",
                             "zip the submission folder again and resubmit")
        member = PurePosixPath(text)
        if text.startswith("/") or _DRIVE.match(text) or ".." in member.parts:
            raise ZipRefused(f"{refused} {info.filename!r} would land outside its folder (absolute paths and '..' "
                             "are not allowed)", "zip the submission folder itself and resubmit")
        kind = stat.S_IFMT(info.external_attr >> 16)  # the Unix file type, when the zip records one
        if kind == stat.S_IFLNK:
            raise ZipRefused(f"{refused} {info.filename!r} is a symbolic link", "zip the files themselves")
        if info.is_dir() or kind == stat.S_IFDIR:
            continue
        if kind not in (0, stat.S_IFREG):
            raise ZipRefused(f"{refused} {info.filename!r} is not a regular file (a device, pipe or socket)")
        if info.flag_bits & 0x1:
            raise ZipRefused(f"{refused} {info.filename!r} is password-protected", "zip it without a password")
        unpacked += info.file_size
        if unpacked > limits.unpacked_bytes:
            raise ZipRefused(f"{refused} it unpacks to more than the {limits.unpacked_bytes / 1e6:,.0f} MB "
                             "the grader unpacks", "leave large data out and resubmit")
        if info.file_size > limits.ratio_from_bytes and info.file_size > limits.ratio * max(info.compress_size, 1):
            raise ZipRefused(f"{refused} {info.filename!r} is compressed {info.file_size / max(info.compress_size, 1):,.0f}"
                             f" to 1; over {limits.ratio:,.0f} to 1 is how zip bombs are made, not real files")
        if member.parts and not set(member.parts) & ignored:
            members.append((info, member))
    tops = {member.parts[0] for _, member in members}
    if len(tops) == 1 and all(len(member.parts) > 1 for _, member in members):
        return PurePosixPath(tops.pop()), members  # a zipped submission folder
    return PurePosixPath(), members
