"""What the two GANs share (``models/adversarial.py``): their training defaults."""

# the DCGAN recipe; no model selection; a sample grid after every epoch
ADVERSARIAL_DEFAULTS = {"lr": 2e-4, "val_fraction": 0.0, "sample_every": 1}
