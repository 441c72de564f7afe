"""bench: train and evaluate grids of generative image models under one recorded protocol."""

__version__ = "0.1.0"
