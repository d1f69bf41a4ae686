"""Shopper intent: per visit features -> explainable state scores -> ``intent.changed`` events.

Entry point: :class:`storelens.intent.engine.IntentEngine`; inputs are described in
:mod:`storelens.intent.signals`; the rules and how to change them in docs/INTENT.md.
"""

from storelens.intent.engine import IntentEngine, VisitIntent
from storelens.intent.signals import KinematicSample
from storelens.intent.states import IntentState

__all__ = ["IntentEngine", "IntentState", "KinematicSample", "VisitIntent"]
