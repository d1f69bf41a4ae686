"""Intent states, their default scoring rules, and the hysteresis that keeps them from flickering.

Default weights (why each is there is written in docs/INTENT.md, table "Default weights"): every
state's score is ``bias + sum(weight * feature)`` clipped to [0, 1], over the normalised features
of :mod:`storelens.intent.features`. Negative weights say what rules a state *out* (someone holding
an item is not "passing through"). The weights were set by hand from how each behaviour looks and
then checked on simulator seeds 0-9 (never on the evaluation seeds 100-119).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from storelens.config.intent import IntentConfig, IntentStateName

__all__ = [
    "CATEGORISED",
    "DEFAULT_STATES",
    "PRIMARY_PRIORITY",
    "STATE_ORDER",
    "IntentState",
    "StateMachine",
    "StateSpec",
    "Transition",
    "effective_states",
]

IntentState = IntentStateName

STATE_ORDER: tuple[IntentState, ...] = tuple(IntentStateName)
"""Score vector order; on an exact score tie the earlier state wins."""

CATEGORISED = frozenset(
    {
        IntentState.CONSIDERING,
        IntentState.HIGH_INTENT,
        IntentState.NEEDS_ASSISTANCE,
        IntentState.HESITANT,
        IntentState.LEAVING_WITHOUT_PURCHASE,
    }
)
"""States that are about a product category (the event carries it)."""

PRIMARY_PRIORITY: tuple[IntentState, ...] = (
    IntentState.NEEDS_ASSISTANCE,
    IntentState.HESITANT,
    IntentState.HIGH_INTENT,
    IntentState.CONSIDERING,
    IntentState.BROWSING,
    IntentState.PASSING_THROUGH,
)
"""A visit's *primary* intent is the first of these it reached: the most actionable thing that was
true of it. Checkout and leaving are outcomes, not intents, so they are not in the list."""


@dataclass(frozen=True, slots=True)
class StateSpec:
    """One state's effective rule: weights over features, bias, enter/exit thresholds, hold."""

    name: IntentState
    weights: dict[str, float]
    bias: float = 0.0
    enter: float = 0.5
    exit: float = 0.3
    min_hold_s: float | None = None
    enabled: bool = True


DEFAULT_STATES: dict[IntentState, StateSpec] = {
    s.name: s
    for s in (
        StateSpec(
            IntentState.PASSING_THROUGH,
            {
                "kept_walking": 0.9,
                "heading_exit": 0.25,
                "stops": -0.35,
                "stopped": -0.8,
                "engaged": -0.3,
                "attention_focus": -0.3,
                "reaches_focus": -0.4,
                "holding": -0.6,
                "in_queue": -1.0,
                "at_checkout": -1.0,
            },
            enter=0.75,
            exit=0.45,
            min_hold_s=1.0,
        ),
        StateSpec(
            IntentState.BROWSING,
            {
                "stops": 0.6,
                "zones_visited": 0.25,
                "time_in_store": 0.1,
                "kept_walking": -0.1,
                "stopped": -0.35,
                "attention_focus": -0.1,
                "dwell_focus": -0.15,
                "holding": -0.4,
                "pick_return": -0.3,
                "look_around": -0.2,
                "queued": -0.5,
                "in_queue": -1.0,
                "at_checkout": -1.0,
            },
            bias=0.2,
            enter=0.4,
            exit=0.25,
        ),
        StateSpec(
            IntentState.CONSIDERING,
            {
                "dwell_focus": 0.3,
                "attention_focus": 0.25,
                "reaches_focus": 0.2,
                "stopped": 0.25,
                "lingering": 0.1,
                "revisits_focus": 0.1,
                "walking": -0.3,
                "holding": -0.5,
                "pick_return": -0.5,
                "look_around": -0.4,
                "confused": -0.3,
                "negative": -0.3,
                "heading_exit": -0.3,
                "queued": -0.5,
                "in_queue": -1.0,
                "at_checkout": -1.0,
            },
            enter=0.55,
            exit=0.3,
        ),
        StateSpec(
            IntentState.HIGH_INTENT,
            {
                "holding": 0.75,
                "positive": 0.15,
                "dwell_focus": 0.1,
                "reaches_focus": 0.1,
                "returns_focus": -0.2,
                "pick_return": -0.5,
                "confused": -0.2,
                "look_around": -0.2,
                "queued": -0.6,
                "in_queue": -0.8,
                "at_checkout": -0.8,
            },
            enter=0.55,
            exit=0.35,
        ),
        StateSpec(
            IntentState.NEEDS_ASSISTANCE,
            {
                "look_around": 0.4,
                "confused": 0.3,
                "negative": 0.3,
                "stay_focus": 0.2,
                "returns_focus": 0.1,
                "pick_return": 0.1,
                "dwell_focus": 0.1,
                "holding": -0.3,
                "walking": -0.3,
                "back_forth": -0.2,
                "queued": -0.5,
                "in_queue": -1.0,
                "at_checkout": -1.0,
            },
            enter=0.5,
            exit=0.3,
        ),
        StateSpec(
            IntentState.HESITANT,
            {
                "pick_return": 0.6,
                "back_forth": 0.25,
                "revisits_focus": 0.15,
                "returns_focus": 0.1,
                "look_around": -0.4,
                "confused": -0.2,
                "negative": -0.2,
                "stay_focus": -0.2,
                "holding": -0.1,
                "queued": -0.5,
                "in_queue": -1.0,
                "at_checkout": -1.0,
            },
            enter=0.45,
            exit=0.3,
        ),
        StateSpec(
            IntentState.LEAVING_WITHOUT_PURCHASE,
            {
                "heading_exit": 0.45,
                "engaged": 0.5,
                "holding": -0.8,
                "queued": -1.0,
                "in_queue": -1.0,
                "at_checkout": -1.0,
            },
            enter=0.7,
            exit=0.4,
        ),
        StateSpec(
            IntentState.CHECKOUT,
            {"in_queue": 0.8, "at_checkout": 0.9, "queued": 0.6, "holding": 0.1},
            enter=0.5,
            exit=0.3,
        ),
    )
}


def effective_states(cfg: IntentConfig) -> list[StateSpec]:
    """Defaults with the store config's overrides merged in, in :data:`STATE_ORDER`."""
    out: list[StateSpec] = []
    for name in STATE_ORDER:
        base = DEFAULT_STATES[name]
        ov = cfg.states.get(name)
        if ov is None:
            out.append(base)
            continue
        weights = {**base.weights, **ov.weights}
        enter = base.enter if ov.enter is None else ov.enter
        exit_ = base.exit if ov.exit is None else ov.exit
        if ov.exit is None and exit_ > enter:
            exit_ = enter  # lowering only 'enter' must not leave an exit above it
        if exit_ > enter:
            raise ValueError(f"intent.states.{name}: exit ({exit_}) is above enter ({enter})")
        out.append(
            StateSpec(
                name,
                {k: v for k, v in weights.items() if v != 0.0},
                base.bias if ov.bias is None else ov.bias,
                enter,
                exit_,
                ov.min_hold_s if ov.min_hold_s is not None else base.min_hold_s,
                ov.enabled,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Transition:
    """A decided change: to ``state`` (index into the spec list) with ``category``."""

    state: int
    previous: int | None
    category: str | None
    category_only: bool = False


@dataclass(slots=True)
class StateMachine:
    """Hysteresis over per-state scores for one visit.

    Rules, in order: (1) with no state yet, take the best state whose score reaches its ``enter``;
    (2) a state is held at least ``min_hold_s`` (nothing changes before that); (3) after that, if the
    current score fell below its ``exit``, move to the best entering state (if any); (4) else move
    only if another state's score beats the current one by ``switch_margin``; (5) else, for a state
    about a category, follow a change of category.
    """

    enter: npt.NDArray[np.float64]
    exit: npt.NDArray[np.float64]
    hold: npt.NDArray[np.float64]
    enabled: npt.NDArray[np.bool_]
    margin: float
    categorised: npt.NDArray[np.bool_]
    follow_categories: bool = True
    current: int | None = None
    category: str | None = None
    since: float = 0.0
    reached: set[int] = field(default_factory=set)

    @classmethod
    def for_specs(
        cls, specs: list[StateSpec], margin: float, default_hold_s: float, follow_categories: bool = True
    ) -> StateMachine:
        return cls(
            enter=np.array([s.enter for s in specs]),
            exit=np.array([s.exit for s in specs]),
            hold=np.array([default_hold_s if s.min_hold_s is None else s.min_hold_s for s in specs]),
            enabled=np.array([s.enabled for s in specs]),
            margin=margin,
            categorised=np.array([s.name in CATEGORISED for s in specs]),
            follow_categories=follow_categories,
        )

    def step(self, now: float, scores: npt.NDArray[np.float64], categories: list[str | None]) -> Transition | None:
        """Decide on this update's scores; ``categories[i]`` is the category state ``i`` would carry."""
        ok = self.enabled & (scores >= self.enter)
        cur = self.current
        if cur is None:
            if not ok.any():
                return None
            best = int(np.argmax(np.where(ok, scores, -np.inf)))
            return self._go(now, best, categories[best])
        if now - self.since < self.hold[cur]:
            return None
        others = ok.copy()
        others[cur] = False
        alt = int(np.argmax(np.where(others, scores, -np.inf))) if others.any() else None
        if alt is not None and (scores[cur] < self.exit[cur] or scores[alt] >= scores[cur] + self.margin):
            return self._go(now, alt, categories[alt])
        new_cat = categories[cur]
        if (
            self.follow_categories
            and self.categorised[cur]
            and new_cat is not None
            and new_cat != self.category
            and scores[cur] >= self.exit[cur]
        ):
            self.category = new_cat
            self.since = now
            return Transition(cur, cur, new_cat, category_only=True)
        return None

    def _go(self, now: float, state: int, category: str | None) -> Transition:
        prev = self.current
        self.current = state
        self.category = category if self.categorised[state] else None
        self.since = now
        self.reached.add(state)
        return Transition(state, prev, self.category)
