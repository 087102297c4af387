"""Prometheus metrics, hand-written: a few dict increments per request, text on scrape.

A client library would cost more per request than the whole exposition does here, and the
label sets are small (tiers × models × routers), so plain dicts keyed by label tuples suffice.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class Histogram:
    __slots__ = ("buckets", "series")

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        # labels -> [count per bucket (non-cumulative, last = +Inf), sum]
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        s = self.series.get(labels)
        if s is None:
            s = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        s[bisect_left(self.buckets, value)] += 1
        s[-1] += value


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{escape_label(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    REQ_LABELS = ("api", "tier", "model", "router", "status")
    ERR_LABELS = ("api", "tier", "model", "error_class")
    MODEL_LABELS = ("tier", "model")
    LAT_LABELS = ("tier", "model", "router")

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, ...], int] = defaultdict(int)
        self.errors: defaultdict[tuple[str, ...], int] = defaultdict(int)
        self.input_tokens: defaultdict[tuple[str, ...], int] = defaultdict(int)
        self.output_tokens: defaultdict[tuple[str, ...], int] = defaultdict(int)
        self.cost: defaultdict[tuple[str, ...], float] = defaultdict(float)
        self.latency = Histogram(LATENCY_BUCKETS)
        self.overhead = Histogram(OVERHEAD_BUCKETS)
        self.in_flight = 0

    def observe(
        self,
        api: str,
        tier: str,
        model: str,
        router: str,
        status: int,
        error_class: str | None,
        input_tokens: int,
        output_tokens: int,
        cost: float,
        latency_s: float,
        overhead_s: float,
    ) -> None:
        self.requests[(api, tier, model, router, str(status))] += 1
        if error_class is not None:
            self.errors[(api, tier, model, error_class)] += 1
        key = (tier, model)
        if input_tokens or output_tokens:
            self.input_tokens[key] += input_tokens
            self.output_tokens[key] += output_tokens
            self.cost[key] += cost
        lat = (tier, model, router)
        self.latency.observe(lat, latency_s)
        self.overhead.observe(lat, overhead_s)

    def render(self) -> str:
        out: list[str] = []

        def counter(name: str, help_: str, names: tuple[str, ...], data: dict) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} counter")
            for labels, value in sorted(data.items()):
                out.append(f"{name}{_labels(names, labels)} {value}")

        counter(
            "tierwise_requests_total",
            "Requests answered, by outcome.",
            self.REQ_LABELS,
            self.requests,
        )
        counter(
            "tierwise_errors_total",
            "Failed requests, by error class.",
            self.ERR_LABELS,
            self.errors,
        )
        out.append("# HELP tierwise_tokens_total Tokens reported by providers.")
        out.append("# TYPE tierwise_tokens_total counter")
        for (tier, model), v in sorted(self.input_tokens.items()):
            base = _labels(self.MODEL_LABELS, (tier, model), 'direction="input"')
            out.append(f"tierwise_tokens_total{base} {v}")
            base = _labels(self.MODEL_LABELS, (tier, model), 'direction="output"')
            out.append(f"tierwise_tokens_total{base} {self.output_tokens[(tier, model)]}")
        counter(
            "tierwise_cost_usd_total",
            "Spend at configured tier prices, in USD.",
            self.MODEL_LABELS,
            self.cost,
        )
        for name, help_, hist in (
            ("tierwise_request_latency_seconds", "Total request latency.", self.latency),
            ("tierwise_overhead_seconds", "Gateway time excluding upstream waits.", self.overhead),
        ):
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} histogram")
            for labels, s in sorted(hist.series.items()):
                acc = 0.0
                for bound, n in zip((*hist.buckets, float("inf")), s):
                    acc += n
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    le_label = f'le="{le}"'
                    out.append(
                        f"{name}_bucket{_labels(self.LAT_LABELS, labels, le_label)} {int(acc)}"
                    )
                out.append(f"{name}_sum{_labels(self.LAT_LABELS, labels)} {s[-1]}")
                out.append(f"{name}_count{_labels(self.LAT_LABELS, labels)} {int(acc)}")
        out.append("# HELP tierwise_in_flight Requests being handled now.")
        out.append("# TYPE tierwise_in_flight gauge")
        out.append(f"tierwise_in_flight {self.in_flight}")
        return "\n".join(out) + "\n"
