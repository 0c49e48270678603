"""What one pool worker does with one upload: read the stored bytes, examine them (facts, measures, thumbnails from
one decode), store the thumbnails and the original without personal metadata, content-addressed. Runs in a worker
process (processors/images/pool.py); everything it returns is plain and picklable.

Idempotent: the same bytes give the same facts and the same files (content-addressed names), so a redelivered upload
repeats work, never a different result.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from infra.filestore import path_for, put_bytes
from processors.images.analysis import DEFAULT_LIMITS, Analysed, Limits, Rejected, examine
from processors.images.privacy import StripUnsupported, strip_private

# a 1x1 grey PNG
WARM_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010800000000"
                         "3a7e9b550000000a49444154789c6368000000820081dd436af40000000049454e44ae426082")


@dataclass(frozen=True, slots=True)
class Job:
    root: Path  # the file store
    sha256: str
    limits: Limits = DEFAULT_LIMITS


@dataclass(frozen=True, slots=True)
class Outcome:
    analysed: Analysed | None = None
    rejected: Rejected | None = None
    thumbnails: dict[Literal[128, 512], str] = field(default_factory=dict)  # longest side -> sha256 of the WebP
    public_sha256: str | None = None  # the original without GPS and serials; None: cannot be rewritten in place


def limit_memory(max_bytes: int) -> None:
    """Pool initializer: a decoder that runs away gets MemoryError (a Rejected), not the machine's memory."""
    if max_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))


def warm_up() -> bool:
    """Import and exercise the decoders once, so the first upload after a start does not pay for it."""
    examined = examine(WARM_PNG)
    return not isinstance(examined, Rejected)


def process(job: Job) -> Outcome:
    path = path_for(job.root, job.sha256)
    try:
        size = path.stat().st_size
        if size > job.limits.max_bytes:
            return Outcome(rejected=Rejected("too_large", f"file is {size} bytes, more than {job.limits.max_bytes}"))
        data = path.read_bytes()
    except FileNotFoundError:
        return Outcome(rejected=Rejected("missing", "the stored bytes are not in the file store"))
    examined = examine(data, job.limits)
    if isinstance(examined, Rejected):
        return Outcome(rejected=examined)
    if examined.analysed.sha256 != job.sha256:
        return Outcome(rejected=Rejected("corrupt", "the stored bytes do not match their sha256"))
    thumbnails: dict[Literal[128, 512], str] = {}
    for side, webp in examined.thumbnails.items():
        if side in (128, 512):
            thumbnails[side] = put_bytes(job.root, webp)  # type: ignore[index]  # narrowed by the test above
    return Outcome(analysed=examined.analysed, thumbnails=thumbnails, public_sha256=public_copy(job.root, data,
                                                                                                 job.sha256))


def public_copy(root: Path, data: bytes, sha256: str) -> str | None:
    """The original as anyone below operator may see it: stored once, shared by every image that strips alike."""
    try:
        stripped = strip_private(data)
    except StripUnsupported:
        return None
    return sha256 if stripped == data else put_bytes(root, stripped)
