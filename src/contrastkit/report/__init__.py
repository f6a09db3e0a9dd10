"""contrastkit.report."""
