"""What a real camera pipeline gets wrong, injected into perfect simulated observations.

Tracker noise: feet-point jitter, missed detections (single frames and occlusions of a second or
two), track fragments that visit stitching failed to join (the shopper continues under a new
random id after a gap), and identity switches when two shoppers pass close to each other.
Interaction and expression noise: missed and spurious reaches, picks reported as returns (and the
reverse) or missed, attention episodes missed, faces not readable ("unknown") and misread
expressions.

:meth:`NoiseConfig.realistic` is the setting the benchmark calls "with noise"; its numbers are
judgement calls from the tracking and interaction issues' measured error rates, written here so
anyone can change them and rerun.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NoiseConfig"]


@dataclass(frozen=True, slots=True)
class NoiseConfig:
    jitter_m: float = 0.0
    miss_prob: float = 0.0
    occlusions_per_min: float = 0.0
    occlusion_s: tuple[float, float] = (0.5, 2.5)
    fragments_per_min: float = 0.0
    fragment_gap_s: tuple[float, float] = (1.0, 3.0)
    id_switch_prob: float = 0.0
    id_switch_distance_m: float = 0.5
    appearance_noise: float = 0.0
    reach_recall: float = 1.0
    false_reaches_per_min: float = 0.0
    pick_return_miss: float = 0.0
    pick_return_flip: float = 0.0
    attention_recall: float = 1.0
    affect_drop: float = 0.0
    affect_flip: float = 0.0
    affect_conf_scale: float = 1.0

    @classmethod
    def off(cls) -> NoiseConfig:
        """A perfect observer (still with the behaviour stage's own grace periods and latencies)."""
        return cls()

    @classmethod
    def realistic(cls) -> NoiseConfig:
        return cls(
            jitter_m=0.12,
            miss_prob=0.03,
            occlusions_per_min=0.6,
            fragments_per_min=0.15,
            id_switch_prob=0.1,
            appearance_noise=0.3,
            reach_recall=0.85,
            false_reaches_per_min=0.3,
            pick_return_miss=0.15,
            pick_return_flip=0.1,
            attention_recall=0.8,
            affect_drop=0.35,
            affect_flip=0.2,
            affect_conf_scale=0.85,
        )

    @property
    def enabled(self) -> bool:
        return self != NoiseConfig()
