"""contrastkit.functional."""
