"""A config revision's identity: commit + content digest, and the id shown everywhere.

Pure values (no git, no files): the models, the planner and the gate read them; the I/O that
produces them (git HEAD, the digest of the files) is configuration/revision.py.
"""

from __future__ import annotations

from dataclasses import dataclass


def revision_id(commit: str | None, digest: str, dirty: bool = False) -> str:
    """The id shown in logs, metrics and /status: `<commit12>[-dirty]` or `sha256:<digest12>`."""
    if not commit:
        return f"sha256:{digest[:12]}"
    return f"{commit[:12]}-dirty" if dirty else commit[:12]


@dataclass(frozen=True, slots=True)
class Revision:
    """Which config this is: git commit (when in a git work tree) + content digest of the files."""

    digest: str
    commit: str | None = None
    #: The config files differ from `commit` (uncommitted edits): the commit alone would lie.
    dirty: bool = False

    @property
    def id(self) -> str:
        return revision_id(self.commit, self.digest, self.dirty)
