"""contrastkit.eval."""
