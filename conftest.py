"""Settings for every test, the package's doctests included: headless, offline Keras."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("MPLBACKEND", "Agg")
