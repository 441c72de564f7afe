"""The one training loop every family runs through, and what it writes."""
