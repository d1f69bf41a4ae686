"""Dense slots for subject ids, so per-subject state can live in numpy arrays.

Subject ids are random 48-bit numbers; measures that keep a few numbers per subject (last point,
distance walked, time in staff zones) would otherwise loop over Python dicts for every person in
every frame. A slot map turns the frame's ids into array indices with one dict pass, after which
the measure's update is vectorised. Slots of finished subjects are reused, so arrays stay as large
as the number of subjects alive at once.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np
import numpy.typing as npt

__all__ = ["SlotMap", "grow"]


def grow(arr: npt.NDArray, capacity: int, fill: float | int | bool) -> npt.NDArray:
    """``arr`` extended along axis 0 to ``capacity`` rows with ``fill`` (returned as is if big enough)."""
    if len(arr) >= capacity:
        return arr
    extra = np.full((capacity - len(arr), *arr.shape[1:]), fill, dtype=arr.dtype)
    return np.concatenate([arr, extra])


class SlotMap:
    def __init__(self) -> None:
        self._slot: dict[int, int] = {}
        self._free: list[int] = []
        self.capacity = 0
        self.subject_of: list[int | None] = []
        # which slots hold a subject, kept alongside subject_of: active() is asked every frame
        self._alive = np.zeros(16, dtype=bool)

    def __len__(self) -> int:
        return len(self._slot)

    def lookup(self, subjects: list[int]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
        """Slots of ``subjects`` (new ones get a slot) and which of them are new."""
        idx = np.fromiter(map(self._slot.get, subjects, repeat(-1)), dtype=np.intp, count=len(subjects))
        new = idx < 0
        if new.any():
            for i in new.nonzero()[0].tolist():
                s = subjects[i]
                slot = self._slot.get(s)  # a subject listed twice in one frame
                if slot is None:
                    if self._free:
                        slot = self._free.pop()
                    else:
                        slot = self.capacity
                        self.capacity += 1
                        self.subject_of.append(None)
                    self._slot[s] = slot
                    self.subject_of[slot] = s
                    if slot >= len(self._alive):
                        self._alive = grow(self._alive, 2 * len(self._alive), False)
                    self._alive[slot] = True
                idx[i] = slot
        return idx, new

    def get(self, subject: int) -> int | None:
        return self._slot.get(subject)

    def release(self, slots: npt.NDArray[np.intp] | list[int]) -> None:
        for slot in np.asarray(slots, dtype=np.intp).tolist():
            s = self.subject_of[slot]
            if s is not None:
                del self._slot[s]
                self.subject_of[slot] = None
                self._alive[slot] = False
                self._free.append(slot)

    def active(self) -> npt.NDArray[np.bool_]:
        return self._alive[: self.capacity].copy()
