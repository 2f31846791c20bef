"""Pods' scratch folders spread over the disk (ext4's "top of directory hierarchy" flag).

Every pod makes and removes a dozen folders and files under its run's ``work`` folder
(its staged inputs, its root and overlay folders, what it wrote). ext4 puts a new
folder in the block group of its parent, and a file in its folder's group, so all
the pods of a run churn the inodes of one group. Where ext4 runs without a journal
(this project's test machines), it will not hand out an inode freed in the last 5 s
(35 s while its inode table block is not yet written back) and checks every such
inode, one by one, before each new one: with a thousand pods' leftovers in one group
every ``mkdir`` walked past thousands of them (a quarter of all the CPU of a 1,000-item
fan-out; docs/benchmarks.md). A folder with the ``T`` attribute (chattr(1): its
subfolders are unrelated and spread apart by the Orlov allocator) puts each pod's
folder, and so its churn, in a block group of its own choosing.

``spread_subfolders`` sets that flag where the file system has it (ext2/3/4) and
does nothing elsewhere: it only steers where the disk puts things.
"""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

_LONG = struct.calcsize("l")  # the ioctl numbers encode sizeof(long); the kernel reads an int
FS_IOC_GETFLAGS = (2 << 30) | (_LONG << 16) | (ord("f") << 8) | 1
FS_IOC_SETFLAGS = (1 << 30) | (_LONG << 16) | (ord("f") << 8) | 2
FS_TOPDIR_FL = 0x00020000


def _flags(fd: int) -> int:
    out = fcntl.ioctl(fd, FS_IOC_GETFLAGS, bytes(max(_LONG, 4)))
    return int(struct.unpack_from("i", out)[0])


def folder_flags(folder: Path) -> int | None:
    """The inode flags of ``folder`` (``lsattr``), or None where the file system has none."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _flags(fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def spread_subfolders(folder: Path) -> bool:
    """Mark ``folder`` so that its subfolders are spread over the disk's block groups.
    True when it is marked (now or before); False where the file system cannot
    (tmpfs, XFS, a folder of someone else's). Never raises."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        flags = _flags(fd)
        if not flags & FS_TOPDIR_FL:
            arg = struct.pack("i", flags | FS_TOPDIR_FL).ljust(max(_LONG, 4), b"\0")
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, arg)
            flags = _flags(fd)  # what the file system kept
        return bool(flags & FS_TOPDIR_FL)
    except OSError:
        return False
    finally:
        os.close(fd)


__all__ = ["FS_TOPDIR_FL", "folder_flags", "spread_subfolders"]
