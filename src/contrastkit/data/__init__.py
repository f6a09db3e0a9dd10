"""contrastkit.data."""
