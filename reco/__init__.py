"""reco: the helper package of the course *Collaborative filtering with Keras*.

Importing ``reco`` has no side effects: it does not seed, configure
TensorFlow or touch matplotlib. Notebooks call :func:`reco.train.set_seed`
explicitly. Importing :mod:`reco.models` registers the custom Keras layers and
models, so ``.keras`` files saved by the course load in safe mode.
"""

__version__ = "0.1.0"
