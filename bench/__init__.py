"""bench: train and evaluate grids of generative image models under one recorded protocol."""

from importlib.metadata import PackageNotFoundError, version

try:  # the installed distribution's version, so `bench --version` and pyproject.toml never disagree
    __version__ = version("bench")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

# Every registered metric is known before any config validates (bench.config.METRIC_NAMES).
from bench.eval import metric_registry as _metric_registry  # noqa: E402, F401
