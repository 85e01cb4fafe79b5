"""Students' self-check before the deadline, and the bundle released to them for it."""
