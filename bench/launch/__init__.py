"""Launchers: turn a validated grid into cell folders and get each cell run."""
