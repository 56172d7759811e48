"""Background work: the daily delivery worker, broadcasts, and the rate-limited sender."""
