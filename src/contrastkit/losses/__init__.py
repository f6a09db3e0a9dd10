"""contrastkit.losses."""
