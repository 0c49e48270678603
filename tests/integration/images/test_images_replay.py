"""Replay equality for the images projection: rebuilt from the log, every table equals the live one row for row
(uploads applied in another interleaving with the analyses, near-duplicate links found from either side)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime

import httpx
import psycopg

from infra.bench.camera_files import camera_jpeg, encode, scene
from tests.helpers.support import ROOT, Stack, lags, wait_until

TABLES = {
    "images": "SELECT * FROM images ORDER BY image_id",
    "image_uploads": "SELECT * FROM image_uploads ORDER BY upload_id",
    "image_duplicates": "SELECT * FROM image_duplicates ORDER BY image_id, duplicate_id",
    "camera_image_health": "SELECT * FROM camera_image_health ORDER BY camera_id, kind",
    "camera_snapshots": "SELECT * FROM camera_snapshots ORDER BY camera_id",
}


def snapshot(database_url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(database_url) as conn:
        return {name: conn.execute(query).fetchall() for name, query in TABLES.items()}  # type: ignore[arg-type]


def grabbed_before(row: tuple[object, ...], taken: datetime) -> bool:
    """Whether a camera's latest snapshot (its second column is the time) is older than `taken`."""
    return isinstance(row[1], datetime) and row[1] <= taken


def moved_on(live: list[tuple[object, ...]], rebuilt: list[tuple[object, ...]], taken: datetime) -> set[object]:
    """The cameras other tests' pollers grabbed again meanwhile: the rebuilt row is of a later grab than the live
    row read before the replay. Later than `taken`, or earlier but not yet applied by the live projection when it
    was read (a grab can land between the lag check and the read). A rebuilt row of the same or an earlier grab
    must equal the live one."""
    seen = {row[0]: row[1] for row in live}
    newer = {row[0] for row in rebuilt if isinstance(row[1], datetime) and isinstance(seen.get(row[0]), datetime)
             and row[1] > seen[row[0]]}  # type: ignore[operator]
    return newer | {row[0] for row in rebuilt if not grabbed_before(row, taken)}


def settled(api: httpx.Client) -> bool:
    lag, status = lags(api), api.get("/api/images/status").json()
    return lag.get("processors") == 0 and lag.get("images") == 0 and status["counts"]["pending"] == 0


def test_the_rebuilt_images_projection_equals_the_live_one(stack: Stack, api: httpx.Client) -> None:
    picture = scene(800, 600, seed=uuid.uuid4().int % 100_000)
    files = [encode(picture, "JPEG", quality=90), encode(picture.resize((400, 300)), "JPEG", quality=55),
             camera_jpeg(320, 240, seed=uuid.uuid4().int % 100_000), b"\xff\xd8\xff" + bytes(2000)]
    for data in [*files, files[0]]:  # the same bytes again: a second upload of one image
        answer = api.post("/api/images", files={"file": ("x.jpg", data, "image/jpeg")}, timeout=30)
        assert answer.status_code == 202, answer.text
    wait_until(lambda: settled(api), timeout=90, what="the processor and the images projection to settle")
    taken = datetime.now(UTC)
    before = snapshot(stack.backbone.database_url)
    assert len(before["images"]) >= 4 and before["image_duplicates"]

    done = subprocess.run([sys.executable, "-m", "infra.entry.cli", "replay", "images"], env=stack.env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "swapped in" in done.stderr

    after = snapshot(stack.backbone.database_url)
    for table in TABLES:
        if table == "camera_snapshots":  # other tests' cameras keep being grabbed by the pollers meanwhile
            grabbed = moved_on(before[table], after[table], taken)
            before[table] = [row for row in before[table] if row[0] not in grabbed]
            after[table] = [row for row in after[table] if row[0] not in grabbed]
        assert after[table] == before[table], f"{table} differs after the rebuild"
    again = api.post("/api/images", params={"wait": "true"}, timeout=30,
                     files={"file": ("y.jpg", camera_jpeg(160, 120, seed=uuid.uuid4().int % 100_000), "image/jpeg")})
    assert again.status_code == 201, again.text  # the live projection continues on the swapped tables
