"""contrastkit.graph."""
