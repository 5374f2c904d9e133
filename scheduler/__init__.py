"""The clock: APScheduler jobs that act on due rows (outbox now; timers and reports later)."""

PERIODS = ("day", "week", "month")  # what reports cover
