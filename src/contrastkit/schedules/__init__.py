"""contrastkit.schedules."""
