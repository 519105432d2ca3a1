"""What a tester dropped, as images: files, folders (every image under them, in natural order)
and .zip archives, each image read once to hash it and left out with one sentence when it is
empty, too big, not an image whatever its name says, or the same bytes as one already found.

An archive is checked before anything in it is read (how many entries, what they say they unpack
to) and then read in memory, one member at a time and never past what the member declared or the
image limit: nothing is unpacked to disk, so no entry can land outside a folder, and an entry
whose path points outside the archive is left out all the same.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ui.testing.tables import Problem

# The images the chat accepts (README's /ask example, ui/imaging/formats.py)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif")


@dataclass(frozen=True)
class Limits:
    """How much one test set may hold (the caller may pass the server's own limits)."""

    image_bytes: int = 20 * 2**20  # one image (the chat's upload limit, GLM_MAX_UPLOAD_MB)
    images: int = 5_000  # distinct images in one set
    archive_members: int = 20_000  # entries of one .zip
    archive_bytes: int = 4 * 2**30  # what one .zip says it unpacks to
    question_chars: int = 32_000  # one question (GLM_MAX_QUESTION_CHARS)


@dataclass(frozen=True)
class Source:
    path: Path
    member: str | None = None  # the entry of the .zip at `path`


@dataclass
class Found:
    """The distinct images found so far, in the order they were dropped."""

    limits: Limits
    names: dict[str, str] = field(default_factory=dict)  # digest → the first file's name
    sources: dict[str, Source] = field(default_factory=dict)
    files: list[tuple[str, str]] = field(default_factory=list)  # (name, digest), duplicates too
    problems: list[Problem] = field(default_factory=list)
    full: bool = False

    def add(self, name: str, source: Source, size: int, archive: zipfile.ZipFile | None = None) -> None:
        if self.full:
            return
        if size > self.limits.image_bytes:
            self.problems.append(Problem("testset_image_too_big",
                                         {"name": name, "limit": self.limits.image_bytes / 2**20}))
            return
        try:
            data = read(source, self.limits.image_bytes, archive)
        except (OSError, zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, ValueError):
            self.problems.append(Problem("testset_image_unreadable", {"name": name}))
            return
        if not data:
            self.problems.append(Problem("testset_image_empty", {"name": name}))
            return
        if not looks_like_image(data[:32]):
            self.problems.append(Problem("testset_not_an_image", {"name": name}))
            return
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.names:
            self.problems.append(Problem("testset_same_image", {"name": name, "first": self.names[digest]}))
        elif len(self.names) >= self.limits.images:
            self.problems.append(Problem("testset_too_many_images", {"limit": self.limits.images}))
            self.full = True
            return
        else:
            self.names[digest], self.sources[digest] = name, source
        self.files.append((name, digest))

def take(path: Path, found: Found) -> None:
    """An image, a folder (every image under it, in natural order) or a .zip archive."""
    if path.is_dir():
        entries = []
        for root, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__MACOSX"]
            entries += [Path(root, n) for n in names if not n.startswith(".")]
        others = 0
        for entry in sorted(entries, key=lambda p: _natural(p.relative_to(path).as_posix())):
            if entry.suffix.lower() in IMAGE_SUFFIXES:
                name = entry.relative_to(path.parent).as_posix()
                found.add(name, Source(entry), _size(entry))
            else:
                others += 1
        if others:
            found.problems.append(Problem("testset_other_files", {"name": path.name, "count": others}))
    elif path.suffix.lower() == ".zip":
        _archive(path, found)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        found.add(path.name, Source(path), _size(path))
    elif path.exists():
        found.problems.append(Problem("testset_not_image_type", {"name": path.name}))
    else:
        found.problems.append(Problem("testset_image_unreadable", {"name": path.name}))


def _archive(path: Path, found: Found) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError):
        found.problems.append(Problem("testset_zip_unreadable", {"name": path.name}))
        return
    with archive:
        _members(path, archive, found)


def _members(path: Path, archive: zipfile.ZipFile, found: Found) -> None:
    limits, infos = found.limits, archive.infolist()
    if len(infos) > limits.archive_members or sum(i.file_size for i in infos) > limits.archive_bytes:
        found.problems.append(Problem("testset_zip_too_big", {
            "name": path.name, "count": limits.archive_members, "limit": limits.archive_bytes / 2**30}))
        return
    others = 0
    for info in sorted(infos, key=lambda i: _natural(i.filename)):
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if info.is_dir() or not parts or parts[0] == "__MACOSX" or parts[-1].startswith("."):
            continue
        if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            found.problems.append(Problem("testset_zip_unsafe",
                                          {"name": info.filename, "archive": path.name}))
        elif PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
            others += 1
        elif info.flag_bits & 0x1:
            found.problems.append(Problem("testset_zip_encrypted",
                                          {"name": info.filename, "archive": path.name}))
        else:
            found.add("/".join(parts), Source(path, info.filename), info.file_size, archive)
    if others:
        found.problems.append(Problem("testset_other_files", {"name": path.name, "count": others}))


def read(source: Source, limit: int, archive: zipfile.ZipFile | None = None) -> bytes:
    """An image's bytes, refused past `limit`; a member from `archive` when it is already open
    (opening a .zip reads its whole directory: once per archive, not once per member)."""
    if source.member is None:
        with source.path.open("rb") as f:
            data = f.read(limit + 1)
    elif archive is None:
        with zipfile.ZipFile(source.path) as opened, opened.open(source.member) as f:
            data = f.read(limit + 1)
    else:
        with archive.open(source.member) as f:
            data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError("larger than the limit")
    return data


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _natural(name: str) -> list[tuple[int, int | str]]:
    """img2 before img10, as a file manager sorts."""
    return [(0, int(part)) if part.isdigit() else (1, part.lower()) for part in re.split(r"(\d+)", name)]


def looks_like_image(head: bytes) -> bool:
    """The file starts like one of IMAGE_SUFFIXES' formats (its name alone can lie)."""
    return (head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM",
                             b"II*\x00", b"MM\x00*"))
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or head[4:8] == b"ftyp")
