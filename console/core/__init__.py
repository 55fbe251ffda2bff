"""Pure pieces of the judge: statistics and the exposure plan (no I/O, no clock)."""
