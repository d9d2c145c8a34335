"""The one HTTP client (``client``): retries, backoff, ``Retry-After``, the rate limiter, redaction, ETags and
progress hooks, used by the collectors, the remote catalog and the webhook sinks. It knows no collector."""
