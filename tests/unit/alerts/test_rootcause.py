"""Root cause on a small topology (processors/alerts/rootcause.py): the alerts of devices reachable only through a
down device are grouped under that device's own alert; a device with another path is not; when the root comes back
the grouping moves to the next down device that still cuts them off.

    core ── dist ── acc1 ── cam
     │       │
    ring ── acc2          (acc2 is also reachable through ring)
"""

from __future__ import annotations

from processors.alerts.rootcause import Topology, applied, regroup, roots

LINKS = [("core", "1", "dist"), ("dist", "2", "acc1"), ("acc1", "3", "cam"), ("dist", "4", "acc2"),
         ("core", "5", "ring"), ("ring", "6", "acc2")]


def network(status: dict[str, str]) -> Topology:
    view = Topology()
    for device in ("core", "dist", "acc1", "cam", "acc2", "ring"):
        applied(view, {"kind": "identified", "device": device, "sys_name": device.upper()})  # names are case-folded
    for device, port, remote in LINKS:
        applied(view, {"kind": "link", "device": device, "port": port, "remote": remote.upper()})
    for device, state in status.items():
        applied(view, {"kind": "status", "device": device, "status": state})
    return view


def alert(view: Topology, alert_id: str, device: str, subject: str | None = None) -> None:
    applied(view, {"kind": "raised", "alert_id": alert_id, "device": device, "subject": subject or device,
                   "fingerprint": f"fp-{alert_id}", "rule_id": None})


DOWN = {"core": "up", "ring": "up", "dist": "down", "acc1": "down", "cam": "down", "acc2": "down"}


def test_symptoms_behind_the_outermost_down_device_are_grouped_under_its_alert() -> None:
    view = network(DOWN)
    for alert_id, device in (("A-dist", "dist"), ("A-acc1", "acc1"), ("A-cam", "cam"), ("A-acc2", "acc2")):
        alert(view, alert_id, device)
    alert(view, "A-acc1-if", "acc1", "acc1/if/3")  # an interface alert of a device behind dist: a symptom too
    assert roots(view) == {"acc1": "A-dist", "cam": "A-dist"}  # acc2 has a path through ring: its own problem
    changes = regroup(view)
    assert changes == [("A-acc1", None, "A-dist"), ("A-acc1-if", None, "A-dist"), ("A-cam", None, "A-dist")]
    assert view.alerts["A-dist"].root is None and view.alerts["A-acc2"].root is None
    assert regroup(view) == []  # nothing changed: nothing to say again


def test_when_the_root_recovers_the_next_down_device_becomes_the_root() -> None:
    view = network(DOWN)
    for alert_id, device in (("A-dist", "dist"), ("A-acc1", "acc1"), ("A-cam", "cam")):
        alert(view, alert_id, device)
    regroup(view)
    assert applied(view, {"kind": "status", "device": "dist", "status": "up"})
    assert applied(view, {"kind": "resolved", "alert_id": "A-dist"})
    assert regroup(view) == [("A-acc1", "A-dist", None), ("A-cam", "A-dist", "A-acc1")]


def test_a_down_device_without_an_alert_of_its_own_groups_nothing() -> None:
    view = network(DOWN)
    alert(view, "A-acc1", "acc1")
    alert(view, "A-cam", "cam")
    # acc1 is itself behind dist (down, its alert not raised yet, e.g. still in its `for`): it is a symptom, not a
    # root, so nothing is grouped until dist's own alert fires (then everything goes under it at once)
    assert roots(view) == {}
    alert(view, "A-dist", "dist")
    assert roots(view) == {"acc1": "A-dist", "cam": "A-dist"}


def test_when_no_device_is_up_nothing_is_blamed() -> None:
    view = network(dict.fromkeys(DOWN, "down"))
    alert(view, "A-dist", "dist")
    alert(view, "A-acc1", "acc1")
    assert roots(view) == {} and regroup(view) == []
