"""A new output folder for every timed command, none deleted until the benchmark ends.

The benchmarks used to delete one command's outputs just before the next command wrote its own.
On ext4 without a journal (the disk of the machines here), creating a file then scans past
every inode of its block group that was deleted in the last minute (six while the inode table
waits to be written: the kernel's ``recently_deleted()`` in fs/ext4/ialloc.c), so each command
paid for the 300 deletions before it, in the kernel, whatever the tool.  ext4 with a journal
(the usual setup), XFS and tmpfs do no such scan, and a site's run writes into a folder nobody
has just emptied.

So each command gets a folder of its own.  The previous folder's files are emptied before the
next command (their blocks go back to the disk, their inodes stay in use); the benchmark removes
them all with its scratch folder when it ends.

That removal is the same scan's cause for whatever runs next in that block group: a benchmark
started within minutes of another paid for its clean-up (19 % of a Penn run's samples were in
the scan).  Give each run its own new folder at the top of the filesystem as TMPDIR
(``mkdir /bench-$RANDOM``, as root): ext4 spreads new top-level folders over its block groups.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path


class OutputFolders:
    """Numbered folders under ``scratch/outputs`` (one instance for each ``scratch``)."""

    def __init__(self, scratch: Path):
        self.root = scratch / "outputs"
        self.root.mkdir(parents=True)
        self.numbers = itertools.count()
        self.last: Path | None = None

    def fresh(self, create: bool = True) -> Path:
        """A folder no command has written to (created unless ``create`` is false, for
        ``cp -r``, which creates it); the previous one's files are emptied first, and the disk
        flushed, so that the next command's flush pays for its own writes only."""
        if self.last is not None:
            for folder, _, names in os.walk(self.last):
                for name in names:
                    os.truncate(os.path.join(folder, name), 0)
        os.sync()
        self.last = self.root / str(next(self.numbers))
        if create:
            self.last.mkdir()
        return self.last
