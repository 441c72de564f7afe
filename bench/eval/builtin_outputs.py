"""Result keys written besides the metrics: conditional models, model families' test metrics, the
evaluation's own timing. Declared here so `output_info` knows every key a result.json holds.
"""

from __future__ import annotations

from bench.eval.metric_core import register_output

# ---- result keys written besides the metrics: conditional models, model families, the evaluation ----

for _template, _metric, _lower, _hidden, _desc in (
    ("cond_accuracy_{key}", "cond_accuracy", False, False, "classifier accuracy on conditioned samples"),
    ("fd_{key}_class{c}", "fd_class", True, True, "FD of samples asked for class c vs real images of c"),
    ("fd_{key}_class_mean", "fd_class", True, False, "mean over classes of the per-class FD"),
    ("recon_mse", "recon_mse", True, False, "reconstruction MSE per pixel, [0, 1] scale (test split)"),
    ("recon_bce", "recon_bce", True, False, "reconstruction BCE per pixel, nats (test split)"),
    ("psnr", "psnr", False, False, "PSNR in dB (reconstructions, or pix2pix translations)"),
    ("elbo", "elbo", False, False, "ELBO in nats per image (one posterior sample)"),
    ("bpd", "bpd", True, False, "-ELBO in bits per dimension"),
    ("codebook_usage", "codebook_usage", False, False, "share of the VQ codebook used on the test split"),
    ("perplexity", "perplexity", False, False, "exp(entropy) of the code histogram: codes in effective use"),
    ("denoise_mse", "denoise_mse", True, False, "DDPM noise-prediction MSE on the test split"),
    ("cycle_l1_{direction}", "cycle_l1", True, False, "mean absolute cycle error per pixel ([-1, 1])"),
    ("l1", "l1", True, False, "pix2pix mean absolute error to the true targets"),
    ("ssim", "ssim", False, False, "pix2pix SSIM to the true targets (Wang et al. 2004)"),
    ("eval_seconds", "eval_seconds", True, True, "wall time of the evaluation"),
):
    register_output(_template, _metric, _lower, hidden=_hidden, description=_desc)
