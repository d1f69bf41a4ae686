"""Store simulator: shopper visits with ground-truth intent, observed through realistic noise.

Used to measure the intent engine (``bench/intent.py``), to demo storelens without video
(``storelens simulate``) and to load-test the event path. Entry point:
:func:`storelens.sim.runner.run_simulation` over a :class:`storelens.sim.layout.StoreLayout`.
"""

from storelens.sim.layout import Spot, StoreLayout
from storelens.sim.noise import NoiseConfig
from storelens.sim.runner import SimConfig, SimResult, run_simulation

__all__ = ["NoiseConfig", "SimConfig", "SimResult", "Spot", "StoreLayout", "run_simulation"]
