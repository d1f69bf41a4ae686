"""Shelf and display interaction from body keypoints: reaches, pick-ups, attention, shelf state.

The entry point for the pipeline is :class:`InteractionStage`; the pieces (reach state machines,
head/body orientation, shelf change detection) are usable on their own and tested that way.
"""

from storelens.interaction.attention import AttentionEpisode, AttentionTracker, facing_offset
from storelens.interaction.orientation import Orientation, estimate_orientation, estimate_orientations
from storelens.interaction.pickup import ChangeResult, PickupDecision, PickupJudge, compare_views
from storelens.interaction.reach import Reach, ReachTracker, hand_points
from storelens.interaction.shelf_state import ShelfEstimate, ShelfRegion, ShelfState
from storelens.interaction.stage import InteractionStage, ShelfStats

__all__ = [
    "AttentionEpisode",
    "AttentionTracker",
    "ChangeResult",
    "InteractionStage",
    "Orientation",
    "PickupDecision",
    "PickupJudge",
    "Reach",
    "ReachTracker",
    "ShelfEstimate",
    "ShelfRegion",
    "ShelfState",
    "ShelfStats",
    "compare_views",
    "estimate_orientation",
    "estimate_orientations",
    "facing_offset",
    "hand_points",
]
