"""The learner's loop: the command line, progress, hints, watch, and the suite runner. Ships in take-homes."""
