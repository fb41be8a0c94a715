"""Pure parts of the notification handling: ordering, duplicates, tickets, offsets, quiet windows, routing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from custody.events.models import Agent, FileVersion, Grouping, RepoRegistered
from producers.handling import MessageTicket, RecentNotifications, in_object_order
from producers.notifications import ObjectNotification
from producers.offsets import OffsetTracker
from producers.routing import RepoRoutes, uploader_agent
from producers.windows import QuietWindows, WindowEntry

ALICE = Agent(kind="person", name="alice")
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc)


def notification(key: str, sequencer: str, event: str = "ObjectCreated:Put") -> ObjectNotification:
    return ObjectNotification(notification_id=f"{key}@{sequencer}", event_name=event, bucket="b", key=key, sequencer=sequencer)


def repo(name: str, prefix: str = "", bucket: str = "b", **grouping) -> RepoRegistered:
    return RepoRegistered(name=name, bucket=bucket, prefix=prefix, grouping=Grouping(**grouping), registered_by=ALICE)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeRegistry:
    def __init__(self, repos: list[RepoRegistered]) -> None:
        self.repos = repos
        self.reads = 0

    def list(self) -> list[RepoRegistered]:
        self.reads += 1
        return list(self.repos)


# Ordering and duplicates


def test_object_notifications_sorted_by_sequencer():
    ticket = MessageTicket(4, lambda problems: None)
    delete_a = notification("a", "0B", "ObjectRemoved:Delete")
    put_a = notification("a", "0A")
    put_b = notification("b", "01")
    put_a2 = notification("a", "10")

    ordered = [n for n, _ in in_object_order([(delete_a, ticket), (put_b, ticket), (put_a2, ticket), (put_a, ticket)])]

    assert ordered == [put_a, delete_a, put_a2, put_b]


def test_recent_notifications_forget_oldest():
    recent = RecentNotifications(capacity=2)
    recent.add(("1",))
    recent.add(("2",))
    recent.add(("3",))

    assert ("1",) not in recent
    assert ("2",) in recent
    assert ("3",) in recent


def test_ticket_finishes_after_last_release():
    finished: list[list[str]] = []
    ticket = MessageTicket(2, finished.append, problems=["record 2: bad"])

    ticket.release()
    assert finished == []
    ticket.release("n1: gone")

    assert finished == [["record 2: bad", "n1: gone"]]
    assert ticket.finished


def test_empty_ticket_finishes_at_once():
    finished: list[list[str]] = []

    MessageTicket(0, finished.append)

    assert finished == [[]]


# Offsets


def test_offsets_move_only_past_finished_records():
    tracker = OffsetTracker()
    for offset in (5, 6, 7):
        tracker.add("t", 0, offset)
    tracker.add("t", 1, 3)

    tracker.finish("t", 0, 6)
    assert tracker.committable() == {}

    tracker.finish("t", 0, 5)
    tracker.finish("t", 1, 3)
    assert tracker.committable() == {("t", 0): 7, ("t", 1): 4}
    assert tracker.open_count() == 1

    tracker.finish("t", 0, 7)
    assert tracker.committable() == {("t", 0): 8}
    assert tracker.committable() == {}


def test_offsets_of_revoked_partition_forgotten():
    tracker = OffsetTracker()
    tracker.add("t", 0, 1)
    tracker.forget([("t", 0)])
    tracker.finish("t", 0, 1)

    assert tracker.committable() == {}


# Quiet windows


def entry(path: str, minutes: int, released: list[str]) -> WindowEntry:
    file = FileVersion(path=path, size=1, sha256=f"{minutes:064x}", version_id=f"v{minutes}")
    return WindowEntry(file, T0 + timedelta(minutes=minutes), f"n{minutes}", ALICE, lambda problem: released.append(path))


def test_window_due_after_quiet_period():
    clock = FakeClock()
    windows = QuietWindows(clock)
    target = repo("r", strategy="quiet-window", quiet_window_s=10)
    released: list[str] = []

    windows.add(target, entry("a", 1, released))
    clock.now = 8
    windows.add(target, entry("b", 2, released))
    clock.now = 17
    assert windows.due() == []

    clock.now = 18
    [window] = windows.due()
    assert [e.file.path for e in window.entries] == ["a", "b"]
    assert windows.pending() == 0


def test_window_keeps_newest_version_per_path():
    clock = FakeClock()
    windows = QuietWindows(clock)
    released: list[str] = []
    windows.add(repo("r", strategy="quiet-window", quiet_window_s=1), entry("a", 2, released))
    windows.add(repo("r", strategy="quiet-window", quiet_window_s=1), entry("a", 1, released))
    clock.now = 5

    [window] = windows.due()
    newest, superseded = window.files()

    assert [f.version_id for f in newest] == ["v2"]
    assert [f.version_id for f in superseded] == ["v1"]


def test_restored_window_is_due_again():
    clock = FakeClock()
    windows = QuietWindows(clock)
    windows.add(repo("r", strategy="quiet-window", quiet_window_s=1), entry("a", 1, []))
    clock.now = 5
    [window] = windows.due()

    windows.restore(window)

    assert windows.pending() == 1
    assert len(windows.due()) == 1


# Routing


def test_longest_prefix_owns_key():
    routes = RepoRoutes(FakeRegistry([repo("all"), repo("data", "data/"), repo("other", "data/", bucket="c")]), refresh_s=60)

    owner, path = routes.route("b", "data/x/y.csv")
    assert (owner.name, path) == ("data", "x/y.csv")
    owner, path = routes.route("b", "datax/y.csv")
    assert (owner.name, path) == ("all", "datax/y.csv")
    assert routes.route("unknown-bucket", "a") is None


def test_unknown_key_refreshes_registry_rarely():
    clock = FakeClock()
    registry = FakeRegistry([])
    routes = RepoRoutes(registry, refresh_s=60, miss_refresh_s=5, clock=clock)

    assert routes.route("b", "k") is None
    assert routes.route("b", "k") is None
    assert registry.reads == 1

    registry.repos = [repo("late")]
    clock.now = 6
    owner, _path = routes.route("b", "k")
    assert owner.name == "late"
    assert registry.reads == 2


def test_uploader_agent_from_principal():
    assert uploader_agent("AWS:AIDAEXAMPLE").name == "AWS-AIDAEXAMPLE"
    assert uploader_agent("custody").agent_id == "service_account:custody"
    assert uploader_agent(None).name == "unknown-uploader"
    assert uploader_agent("::").name == "unknown-uploader"
