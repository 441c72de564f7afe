"""Upper bounds of the `--opt` numbers that size an analysis's memory and time, checked when the
options are read, before anything is allocated: `--opt steps=1000000000` once allocated 22 GB before
the kernel killed the process. Each bound is far above what a readable figure or a useful estimate
needs, and small enough that the largest allowed job fits a workstation."""

MAX_COLUMNS = 256  # images across one figure row (steps, cols, images per grid)
MAX_ROWS = 128  # rows of one figure (pairs, latent dimensions); rows x columns <= 32,768 images
MAX_IMAGES = 1_000_000  # images encoded for one estimate (a test split is smaller)
MAX_BATCH = 65_536  # images through the model at once
