"""Model families by name. Importing this package registers every built-in family."""

from bench.models import dcgan, mlp_gan, mlp_vae  # noqa: F401  (registration)
from bench.models.base import MODELS, GenerativeModel

__all__ = ["MODELS", "GenerativeModel"]
