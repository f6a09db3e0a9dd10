"""contrastkit.mining."""
