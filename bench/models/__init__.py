"""Model families by name. Importing this package registers every built-in family."""

from bench.models import (  # noqa: F401  (registration)
    conv_vae,
    cvae,
    cyclegan,
    dcgan,
    ddpm,
    fc_gan,
    fc_vae,
    mlp_gan,
    mlp_vae,
    pix2pix,
    siamese_gan,
    vq_vae,
)
from bench.models.base import MODELS, GenerativeModel

__all__ = ["MODELS", "GenerativeModel"]
