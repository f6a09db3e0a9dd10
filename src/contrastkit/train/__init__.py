"""contrastkit.train."""
