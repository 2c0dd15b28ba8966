"""reco: the helper package of the course *Collaborative filtering with Keras*.

Importing ``reco`` has no side effects: it does not seed, configure
TensorFlow or touch matplotlib. Notebooks call :func:`reco.train.set_seed`
explicitly. Importing :mod:`reco.models` registers the custom Keras layers and
models, so ``.keras`` files saved by the course load in safe mode.
"""

__version__ = "0.1.0"

# Register the course's Keras classes (RecommenderNetV2, StarsRMSE) on
# ``import reco``, so that saved ``.keras`` files load in safe mode.
from reco import models  # noqa: E402, F401
