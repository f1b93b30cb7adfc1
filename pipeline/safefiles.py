"""Writing files where someone else may also write: every file voxline makes.

An output folder, a shared `/tmp` or a cache folder can hold names planted by another user:
a symlink at the temporary name voxline is about to use would have the write land on the
link's target, and the rename publish a link. So every file voxline writes is first created
here, exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`: a name that exists, link or not, is never
opened), under a name with a random part nobody can guess; it is renamed into place only if
the name still holds the very file that was created (same device and inode, a plain file),
so a rename never publishes a link. Folders voxline keeps its own state in are made private
(0700), their databases 0600.
"""

from __future__ import annotations

import errno
import functools
import os
import secrets
import stat
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


class UnsafePathError(OSError):
    """A path voxline refuses to write through (a link, someone else's folder)."""

    def __init__(self, path: Path | str, why: str):
        super().__init__(errno.EPERM, f"{path} {why}; refused")


def create_exclusive(folder: Path, prefix: str, suffix: str = "",
                     mode: int = 0o666) -> tuple[int, Path]:
    """A new, empty file `folder/PREFIX<random>SUFFIX` open for reading and writing: its
    descriptor and path. Never opens a name that already exists, and never a link."""
    for _ in range(100):
        path = Path(folder) / f"{prefix}{secrets.token_hex(8)}{suffix}"
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC,
                           mode), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary name in {folder}")


class TempFile:
    """A temporary file beside `destination` (`.NAME.<pid>.<random>.TAG`), created
    exclusively; `publish()` renames it over `destination`, `discard()` removes it.

    The pid in the name lets a later run tell a killed process's leftovers from a running
    one's (`remove_stale`); the random part makes the name impossible to plant in advance.
    """

    def __init__(self, destination: Path, tag: str = "part", mode: int = 0o666):
        self.destination = Path(destination)
        self.fd, self.path = create_exclusive(
            self.destination.parent, f".{self.destination.name}.{os.getpid()}.", f".{tag}",
            mode)
        info = os.fstat(self.fd)
        self._identity = (info.st_dev, info.st_ino)

    def open(self, mode: str = "wb", **kwargs):
        """The file as a Python file object (which then owns the descriptor)."""
        fd, self.fd = self.fd, None
        return os.fdopen(fd, mode, **kwargs)

    def close(self) -> None:
        """Close the descriptor, if no file object took it."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def is_ours(self) -> bool:
        """The name still holds the plain file this object created."""
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return False
        return stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) == self._identity

    def publish(self, destination: Path | None = None) -> Path:
        """Rename the file into place (over `destination`, by default the one given)."""
        target = Path(destination) if destination is not None else self.destination
        self.close()
        if not self.is_ours():
            raise UnsafePathError(self.path, "was replaced by something else while voxline "
                                             "wrote it (a link, another file)")
        os.replace(self.path, target)
        return target

    def discard(self) -> None:
        self.close()
        if self.is_ours():
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


def write_atomic(destination: Path, data: bytes | str, mode: int = 0o666) -> Path:
    """`data` written to a new temporary file beside `destination`, renamed over it."""
    temporary = TempFile(destination, "tmp", mode)
    try:
        with temporary.open("wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        return temporary.publish()
    except BaseException:
        temporary.discard()
        raise


def remove_stale(destination: Path) -> int:
    """Remove temporary files a killed voxline left for `destination` (`.NAME.<pid>.…`,
    their process gone); a running process's files are left alone. A link is removed as a
    name, never followed; a folder is never removed."""
    import glob

    removed = 0
    folder = Path(destination).parent
    for found in folder.glob(f".{glob.escape(Path(destination).name)}.*.part"):
        pid = found.name[len(Path(destination).name) + 2:].split(".")[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            if stat.S_ISDIR(os.lstat(found).st_mode):
                continue
            os.unlink(found)
            removed += 1
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def private_dir(folder: Path) -> Path:
    """`folder`, created (with its parents) private to the user (0700) when missing; an
    existing one must be a real folder (not a link) that the user owns."""
    folder = Path(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(folder, PRIVATE_DIR)
        return folder
    except FileExistsError:
        pass
    info = os.lstat(folder)
    if stat.S_ISLNK(info.st_mode):
        # a link the user made to put the folder elsewhere is theirs to make: follow it
        # only when the user owns both the link and where it points
        target = os.stat(folder)
        if info.st_uid != os.geteuid() or target.st_uid != os.geteuid():
            raise UnsafePathError(folder, "is a symbolic link that another user owns or that "
                                          "points to another user's folder")
        info = target
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, f"{folder}: not a folder")
    if info.st_uid != os.geteuid():
        raise UnsafePathError(folder, f"belongs to another user (uid {info.st_uid})")
    return folder


def private_file(path: Path) -> Path:
    """Make sure `path` exists as the user's own plain file, created 0600 when new (for a
    database that a library then opens by name)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC,
                         PRIVATE_FILE))
        return path
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePathError(path, "is not a plain file (a link?)")
    if info.st_uid != os.geteuid():
        raise UnsafePathError(path, f"belongs to another user (uid {info.st_uid})")
    return path


@functools.cache
def ffmpeg_writes_to_descriptors(exe: str) -> bool:
    """Whether this FFmpeg has the `fd:` output protocol (6.1 and later), so it can write
    to a file voxline created rather than open a path itself."""
    import subprocess

    try:
        listing = subprocess.run([exe, "-hide_banner", "-protocols"], capture_output=True,
                                 text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    output = listing.partition("Output:")[2]
    return "fd" in output.split()
