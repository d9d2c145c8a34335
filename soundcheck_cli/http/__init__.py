"""The one HTTP client (``client``), on httpx's own transport: retries, backoff, ``Retry-After``, the rate limiter,
timeouts, a per-host circuit breaker and redaction, used by the collectors (which keep their own ETags and
progress), the remote catalog and the webhook sink. It knows no collector."""
