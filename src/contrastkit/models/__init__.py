"""contrastkit.models."""
