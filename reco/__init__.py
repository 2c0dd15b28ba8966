"""reco: the helper package of the course *Collaborative filtering with Keras*.

Importing ``reco`` has no side effects and is quick: it does not import
TensorFlow, seed, or touch matplotlib. Submodules load when first used
(``reco.train``, ``from reco import models``); :mod:`reco.data`,
:mod:`reco.split`, :mod:`reco.explore` and :mod:`reco.metrics` never load
Keras. Notebooks call :func:`reco.train.set_seed` explicitly.

Keras does not import ``reco`` when it loads a file: run ``import reco.models``
(or ``from reco import models``) before ``keras.models.load_model(path)``, which
then loads the course's ``.keras`` files in safe mode.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "baselines",
    "config",
    "constants",
    "data",
    "evaluate",
    "explore",
    "implicit",
    "kinds",
    "metrics",
    "models",
    "plots",
    "recommend",
    "report",
    "retrieval",
    "similar",
    "split",
    "train",
)


def __getattr__(name: str):
    """Import a submodule on first use, so that ``import reco`` stays light."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES])
