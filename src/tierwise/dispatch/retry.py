"""How long to wait before another try, and which client errors blame the deployment.

Whether an error is worth another try is `UpstreamError.retryable`. Retried: 429, 408/409,
5xx (incl. Anthropic's 529 overloaded), timeouts and connection errors (status 0). Not
retried: every other 4xx (400, 401, 403, 404, 422, ...): the same request would fail the same
way on any deployment.
"""

from __future__ import annotations

import random

# Client errors that say the *deployment* is misconfigured (bad key, unknown model) rather than
# the request: not retried, but they do count towards that deployment's cooldown.
DEPLOYMENT_FAULTS = frozenset({401, 403, 404})


def backoff_s(
    attempt: int,
    base_s: float,
    max_s: float,
    jitter: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Delay before retry number `attempt` (1-based): exponential, capped, jittered.

    Jitter removes up to `jitter` of the delay at random, so many clients retrying the same
    overloaded upstream spread out instead of arriving in lockstep. A Retry-After from the
    upstream is a floor: we never come back sooner than asked.
    """
    delay = min(max_s, base_s * (2.0 ** (attempt - 1)))
    if jitter > 0.0:
        delay -= delay * jitter * (rng or random).random()
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return delay
