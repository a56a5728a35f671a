"""target-fiken: a Singer target that books Moment data into Fiken API v2, exactly once."""
