"""Score intent output against the simulator's ground truth.

Unit of evaluation: a true shopper visit (staff excluded). Engine subjects are mapped to the
shopper they observed most (tracker noise can split a visit into fragments or hand one id to
another shopper); a shopper's predicted states are the union over its subjects.

* **Primary intent** (confusion matrix, macro-F1): the truth is the script's primary state; the
  prediction is the first state of :data:`~storelens.intent.states.PRIMARY_PRIORITY` the visit
  reached ("none" if it reached none). Macro-F1 averages F1 over the six primary states.
* **Per-state precision/recall** (all eight states, multi-label): did the engine ever say state S
  for a visit whose ground truth contains an S phase.
* **Detection delay**: seconds from the start of the visit's primary ground-truth phase to the
  first ``intent.changed`` into that state (only visits where it was detected).
* **Alert precision**: share of ``alert.raised`` whose shopper truly needed assistance; alert
  recall: share of needs-assistance shoppers with at least one alert.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from storelens.events.models import Event, EventType
from storelens.events.payloads import AlertAcknowledged, AlertRaised, IntentChanged, typed
from storelens.intent.states import PRIMARY_PRIORITY, STATE_ORDER, IntentState
from storelens.sim.runner import SimResult

__all__ = ["IntentReport", "evaluate", "merge_reports"]

PRIMARY_LABELS: tuple[str, ...] = tuple(str(s) for s in PRIMARY_PRIORITY)
NONE = "none"


@dataclass
class IntentReport:
    visits: int = 0
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    tp: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fp: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fn: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    delays: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    alerts: int = 0
    alerts_true: int = 0
    help_visits: int = 0
    help_alerted: int = 0
    staff_alerts: int = 0
    time_to_ack: list[float] = field(default_factory=list)
    changes: int = 0

    # -------------------------------------------------------------------------- measures --
    def primary_f1(self) -> dict[str, tuple[float, float, float]]:
        """Per primary state: (precision, recall, F1) from the confusion matrix."""
        out = {}
        for s in PRIMARY_LABELS:
            tp = self.confusion.get(s, {}).get(s, 0)
            pred = sum(row.get(s, 0) for row in self.confusion.values())
            true = sum(self.confusion.get(s, {}).values())
            p = tp / pred if pred else 0.0
            r = tp / true if true else 0.0
            out[s] = (p, r, 2 * p * r / (p + r) if p + r else 0.0)
        return out

    @property
    def macro_f1(self) -> float:
        vals = [f for s, (_, _, f) in self.primary_f1().items() if sum(self.confusion.get(s, {}).values())]
        return float(np.mean(vals)) if vals else 0.0

    @property
    def accuracy(self) -> float:
        total = sum(sum(r.values()) for r in self.confusion.values())
        hit = sum(self.confusion.get(s, {}).get(s, 0) for s in PRIMARY_LABELS)
        return hit / total if total else 0.0

    def state_pr(self) -> dict[str, tuple[float, float, int]]:
        """Per state (multi-label): precision, recall, support (visits with that truth)."""
        out = {}
        for s in (str(x) for x in STATE_ORDER):
            tp, fp, fn = self.tp[s], self.fp[s], self.fn[s]
            out[s] = (tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0, tp + fn)
        return out

    @property
    def state_macro_f1(self) -> float:
        f1s = [2 * p * r / (p + r) if p + r else 0.0 for p, r, n in self.state_pr().values() if n]
        return float(np.mean(f1s)) if f1s else 0.0

    @property
    def all_delays(self) -> list[float]:
        return [d for v in self.delays.values() for d in v]

    @property
    def median_delay(self) -> float:
        d = self.all_delays
        return float(np.median(d)) if d else float("nan")

    @property
    def alert_precision(self) -> float:
        return self.alerts_true / self.alerts if self.alerts else float("nan")

    @property
    def alert_recall(self) -> float:
        return self.help_alerted / self.help_visits if self.help_visits else float("nan")


def _subject_states(events: Iterable[Event]) -> dict[str, list[tuple[float, str]]]:
    out: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for e in events:
        p = typed(e, IntentChanged)
        if p is not None and e.subject is not None and not p.category_change:
            out[e.subject].append((e.ts.timestamp(), str(p.state)))
    return out


def evaluate(result: SimResult, engine: str) -> IntentReport:
    """Score one engine's output of one simulation run."""
    rep = IntentReport()
    events = result.outputs[engine]
    by_subject = _subject_states(events)
    rep.changes = sum(len(v) for v in by_subject.values())
    per_shopper: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for subj, seq in by_subject.items():
        owner = result.owner.get(subj)
        if owner is not None:
            per_shopper[owner].extend(seq)
    staff = {p.shopper for p in result.plans if p.staff}
    needs = {p.shopper for p in result.plans if any(ph.state == IntentState.NEEDS_ASSISTANCE for ph in p.phases)}
    for plan in result.plans:
        if plan.staff or plan.primary is None:
            continue
        rep.visits += 1
        seq = sorted(per_shopper.get(plan.shopper, []))
        reached = {s for _, s in seq}
        truth_states = {str(ph.state) for ph in plan.phases}
        for s in (str(x) for x in STATE_ORDER):
            if s in truth_states and s in reached:
                rep.tp[s] += 1
            elif s in reached:
                rep.fp[s] += 1
            elif s in truth_states:
                rep.fn[s] += 1
        truth = str(plan.primary)
        pred = next((p for p in PRIMARY_LABELS if p in reached), NONE)
        rep.confusion.setdefault(truth, {}).setdefault(pred, 0)
        rep.confusion[truth][pred] += 1
        start = next((ph.start for ph in plan.phases if str(ph.state) == truth), None)
        first = next((t for t, s in seq if s == truth), None)
        if start is not None and first is not None:
            rep.delays[truth].append(first - result.wall(start))
    raised: dict[str, float] = {}
    for e in events:
        if (alert := typed(e, AlertRaised)) is not None and e.subject is not None:
            rep.alerts += 1
            owner = result.owner.get(e.subject)
            raised[str(alert.alert_id)] = e.ts.timestamp()
            if owner in staff:
                rep.staff_alerts += 1
            if owner in needs:
                rep.alerts_true += 1
        elif (ack := typed(e, AlertAcknowledged)) is not None and ack.time_to_ack_s is not None:
            rep.time_to_ack.append(ack.time_to_ack_s)
    alerted = {result.owner.get(e.subject) for e in events if e.type == EventType.ALERT_RAISED and e.subject}
    rep.help_visits = len(needs)
    rep.help_alerted = len(needs & {a for a in alerted if a is not None})
    return rep


def merge_reports(reports: Sequence[IntentReport]) -> IntentReport:
    """Pool several runs (seeds) into one report."""
    out = IntentReport()
    for r in reports:
        out.visits += r.visits
        for t, row in r.confusion.items():
            for p, n in row.items():
                out.confusion.setdefault(t, {}).setdefault(p, 0)
                out.confusion[t][p] += n
        for s in r.tp:
            out.tp[s] += r.tp[s]
        for s in r.fp:
            out.fp[s] += r.fp[s]
        for s in r.fn:
            out.fn[s] += r.fn[s]
        for s, d in r.delays.items():
            out.delays[s].extend(d)
        out.alerts += r.alerts
        out.alerts_true += r.alerts_true
        out.help_visits += r.help_visits
        out.help_alerted += r.help_alerted
        out.staff_alerts += r.staff_alerts
        out.time_to_ack.extend(r.time_to_ack)
        out.changes += r.changes
    return out
