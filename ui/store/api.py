"""What the rest of the app may ask of the store (implemented in ui/store/sql.py for SQLite and
PostgreSQL). Every method is synchronous and thread-safe; callers in the event loop use
asyncio.to_thread. Images are kept once by the SHA-256 of their bytes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ui.records import AnswerRecord
from ui.testing.cells import Cell, Item, Rating, Run, RunStatus, Variant
from ui.testing.chatratings import ChatRating, SavedSet
from ui.testing.votes import Outcome, Vote


@dataclass(frozen=True)
class RunInfo:
    """A run as the list of runs shows it."""

    id: int
    title: str
    owner: str
    created: str
    status: RunStatus
    size: int  # cells
    done: int
    failed: int
    rated: int


@dataclass(frozen=True)
class CellFilter:
    """Which cells a page of results shows (None: any)."""

    variant: int | None = None
    status: str | None = None  # "pending", "done", "failed"
    verdict: int | None = None  # +1, -1, or 0 for "not rated yet"
    reason: str | None = None


class Store(Protocol):
    # Images
    def put_image(self, data: bytes, name: str, thumbnail: bytes) -> str:
        """Keep an image (once per content) and its small JPEG thumbnail; its SHA-256 hex."""
        ...

    def image(self, digest: str) -> bytes | None: ...

    def thumbnail(self, digest: str) -> bytes | None: ...

    # Runs
    def create_run(self, title: str, owner: str, items: Sequence[Item],
                   variants: Sequence[Variant]) -> Run:
        """A new run with one pending cell per item × variant."""
        ...

    def run(self, run_id: int) -> Run | None: ...

    def runs(self, owner: str | None = None, limit: int = 50) -> list[RunInfo]:
        """Newest first; owner None: everyone's (a team's server with sign-in)."""
        ...

    def find_unfinished(self, fingerprint: str, owner: str) -> Run | None:
        """The newest run of this owner with these inputs (Run.fingerprint) that is not done."""
        ...

    def set_status(self, run_id: int, status: RunStatus) -> None: ...

    def stop_running(self, now: str) -> int:
        """Every run still marked "running" whose lease ended before `now` becomes "stopped" (a
        process killed mid-run left it so), in one statement; how many. A run whose lease is live
        (another process asks it) and other runs are not touched."""
        ...

    # Leases: which process asks a running run (ui/testing/lease.py); times as UTC ISO strings
    def claim_run(self, run_id: int, holder: str, now: str, until: str, *, over: str = "") -> bool:
        """Mark the run "running", held by `holder` until `until`, in one statement, if nobody
        else holds it: it is not running, or its lease ended before `now`, or it is `holder`'s
        (or `over`'s, a holder known to be gone). Whether it got it."""
        ...

    def renew_run(self, run_id: int, holder: str, until: str) -> bool:
        """The lease extended to `until` if the running run is still `holder`'s; whether it was."""
        ...

    def release_run(self, run_id: int, holder: str, status: RunStatus) -> bool:
        """The run's status set and its lease given up, if it is still `holder`'s; whether it was."""
        ...

    def run_lease(self, run_id: int) -> tuple[str, str] | None:
        """(holder, until) of a running run ("" when none was taken); None if it is not running."""
        ...

    # Cells
    def todo(self, run_id: int, *, retry_failed: bool = False) -> list[Cell]:
        """Cells still to ask, by row then variant: pending ones (and failed ones if asked)."""
        ...

    def save_answer(self, cell_id: int, answer: str, thinking: str, record: AnswerRecord) -> None:
        """The cell is done; its answer, thinking and record kept; attempts + 1."""
        ...

    def save_failure(self, cell_id: int, error: str, params: dict[str, Any],
                     record: AnswerRecord | None) -> None:
        """The cell failed with this error key (and sentence parameters); attempts + 1."""
        ...

    def cells(self, run_id: int, where: CellFilter | None = None, *, offset: int = 0,
              limit: int = 50) -> list[Cell]:
        """A page of cells (with their ratings), by row then variant."""
        ...

    def count(self, run_id: int, where: CellFilter | None = None) -> int: ...

    def changes(self, run_id: int) -> tuple[Any, ...]:
        """A value that changes when a cell of the run is answered, fails (again) or is rated, read
        without reading the cells (what the page keeps a run's summary by)."""
        ...

    def each_cell(self, run_id: int) -> Iterator[Cell]:
        """Every cell of the run, read in batches (reports of large runs)."""
        ...

    def rate(self, cell_id: int, rating: Rating | None) -> None:
        """Set or (None) clear a cell's rating."""
        ...

    # Votes (the Compare page)
    def add_vote(self, vote: Vote) -> int: ...

    def votes(self, *, since: str = "", until: str = "", blind_only: bool = False,
              test_set: str | None = None, limit: int = 1_000_000) -> list[Vote]: ...

    def outcomes(self, *, since: str = "", until: str = "", blind_only: bool = False,
                 owner: str | None = None) -> list[Outcome]:
        """The leaderboard's columns of the votes (no answers, no choices), in time order."""
        ...

    # Ratings of Chat answers
    def add_chat_rating(self, rating: ChatRating) -> int:
        """Keep a rating, replacing the owner's earlier one of the same answer (answer_key)."""
        ...

    def remove_chat_rating(self, owner: str, answer_key: str) -> bool: ...

    def chat_ratings(self, *, owner: str | None = None, since: str = "", until: str = "",
                     limit: int = 1_000_000) -> list[ChatRating]:
        """In time order (since ≤ at < until, ISO 8601); owner None: everyone's."""
        ...

    # Test sets saved from the Chat
    def test_sets(self, owner: str | None = None) -> list[SavedSet]:
        """Newest first; owner None: everyone's."""
        ...

    def test_set(self, set_id: int) -> SavedSet | None: ...

    def create_test_set(self, name: str, owner: str) -> SavedSet:
        """This owner's set of that name, made if it is new."""
        ...

    def add_test_rows(self, set_id: int, items: Sequence[Item], who: str = "") -> int:
        """Rows added (an image and question already there: its expected answer updated); how
        many are new."""
        ...

    def test_set_items(self, set_id: int) -> list[Item]: ...

    def close(self) -> None: ...
