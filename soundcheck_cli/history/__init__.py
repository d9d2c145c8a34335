"""Run history: every ``check`` run's results and certifications, kept in the fact store (last N runs), and the
latest known state that change events compare against. See ``docs/history-and-events.md``."""
