"""Metric core of `tierwise eval` on tiny arrays whose answers are worked out by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tierwise.config import load_config
from tierwise.eval import metrics as m
from tierwise.eval.datasets import Dataset, DatasetError
from tierwise.eval.runner import evaluate_arrays, router_config, select_tiers

# Four items, two tiers. Strong wins on items 0 and 3, both tie on 1 (wrong) and 2 (right).
WEAK = np.array([0.0, 0.0, 1.0, 0.0])
STRONG = np.array([1.0, 0.0, 1.0, 1.0])
SCORES = np.stack([WEAK, STRONG], axis=1)
COSTS = np.tile([1.0, 10.0], (4, 1))  # q_weak 0.25, q_strong 0.75; c_weak 1, c_strong 10
GOOD = np.array([0.9, 0.1, 0.5, 0.7])  # ranks the two strong wins first


def two(complexity: np.ndarray, scores: np.ndarray = SCORES,
        costs: np.ndarray = COSTS) -> m.TwoTierMetrics:
    q, c = scores.mean(axis=0), costs.mean(axis=0)
    curve = m.threshold_curve(scores, costs, complexity)
    return m.two_tier_metrics(curve, q[0], q[1], c[0], c[1])


def test_threshold_curve_by_hand() -> None:
    curve = m.threshold_curve(SCORES, COSTS, GOOD)
    assert np.allclose(curve.calls, [0, 0.25, 0.5, 0.75, 1])
    assert np.allclose(curve.quality, [0.25, 0.5, 0.75, 0.75, 0.75])
    assert np.allclose(curve.cost, [1, 3.25, 5.5, 7.75, 10])


def test_good_router_pgr_apgr_cpt_and_savings() -> None:
    r = two(GOOD)
    # PGR = [0, .5, 1, 1, 1] at calls [0, .25, .5, .75, 1]
    assert r.apgr == pytest.approx(0.75)
    assert r.apgr_cost == pytest.approx(0.75)  # cost grows linearly with calls here
    assert r.cpt50 == pytest.approx(0.25)
    assert r.cpt80 == pytest.approx(0.4)  # .25 + .25 * (.3 / .5)
    assert r.cpt50_cost == pytest.approx(3.25 / 10)
    # 95% of 0.75 = 0.7125 -> PGR 0.925 -> calls 0.4625 -> cost 1 + 9 * 0.4625
    assert r.cost_at_95 == pytest.approx((1 + 9 * 0.4625) / 10)
    assert r.savings_at_95 == pytest.approx(1 - (1 + 9 * 0.4625) / 10)


def test_perfect_router_equals_oracle_when_strong_never_loses() -> None:
    q, c = SCORES.mean(axis=0), COSTS.mean(axis=0)
    oracle = m.two_tier_metrics(m.oracle_calls_curve(SCORES, COSTS), q[0], q[1], c[0], c[1])
    assert two(STRONG - WEAK).apgr == pytest.approx(oracle.apgr)
    assert two(GOOD).apgr == pytest.approx(oracle.apgr)


def test_reversed_router_is_below_random_and_constant_router_is_random() -> None:
    assert two(-GOOD).apgr == pytest.approx(0.25)  # PGR [0, 0, 0, .5, 1]
    const = two(np.full(4, 0.3))
    assert const.apgr == pytest.approx(0.5)
    assert const.apgr_11pt == pytest.approx(0.5)
    assert const.cpt50 == pytest.approx(0.5)
    assert const.cpt80 == pytest.approx(0.8)


def test_random_line_is_exact() -> None:
    q, c = SCORES.mean(axis=0), COSTS.mean(axis=0)
    r = m.two_tier_metrics(m.random_curve(SCORES, COSTS), q[0], q[1], c[0], c[1])
    assert (r.apgr, r.apgr_11pt, r.apgr_cost) == (0.5, 0.5, 0.5)
    assert r.cpt50 == pytest.approx(0.5)
    assert r.cpt80 == pytest.approx(0.8)


def test_partial_ties_are_split_in_expectation() -> None:
    # Item 0 alone on top, then a three-way tie whose mean gain is 1/3.
    curve = m.threshold_curve(SCORES, COSTS, np.array([1.0, 0.0, 0.0, 0.0]))
    assert np.allclose(curve.quality, [0.25, 0.5, 0.5 + 1 / 12, 0.5 + 2 / 12, 0.75])


def test_oracle_skips_items_where_strong_loses() -> None:
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # q_weak 1/3, q_strong 2/3
    costs = np.tile([1.0, 2.0], (3, 1))
    q = scores.mean(axis=0)
    oracle = m.two_tier_metrics(m.oracle_calls_curve(scores, costs), q[0], q[1], 1.0, 2.0)
    assert oracle.apgr == pytest.approx(4 / 3)  # PGR [0, 1, 2, 2]: it can beat always-strong
    perfect = two(scores[:, 1] - scores[:, 0], scores, costs)
    assert perfect.apgr == pytest.approx(7 / 6)  # forced to route the losing item last


def test_no_gap_between_tiers_gives_no_pgr() -> None:
    scores = np.array([[1.0, 0.0], [0.0, 1.0]])
    r = two(np.array([0.0, 1.0]), scores, np.tile([1.0, 2.0], (2, 1)))
    assert r.apgr is None and r.cpt50 is None
    assert r.cost_at_95 == pytest.approx(0.5)  # always-weak already has strong's quality


def test_min_x_reaching_on_a_path_that_steps_back() -> None:
    x = np.array([0.0, 2.0, 1.0, 3.0])
    y = np.array([0.0, 0.4, 1.0, 1.0])
    assert m.min_x_reaching(x, y, 0.7) == 1.0  # a vertex reached by stepping back
    assert m.min_x_reaching(np.array([0.0, 1, 2]), np.array([0.0, 0.5, 1]), 0.75) == 1.5
    assert m.min_x_reaching(x, y, 0.0) == 0.0
    assert m.min_x_reaching(x, y, 1.1) is None


def test_upper_frontier_keeps_hull_vertices_only() -> None:
    f = m.upper_frontier(np.array([0, 1, 2, 3, 1.5, 4]), np.array([0, 0.5, 0.6, 1.0, 0.1, 0.9]))
    assert f.cost.tolist() == [0, 1, 3]
    assert f.quality.tolist() == [0, 0.5, 1.0]
    assert f.at(2.0) == pytest.approx(0.75)
    assert f.at(10.0) == pytest.approx(1.0)  # flat once the best point is affordable
    assert f.min_cost(0.75) == pytest.approx(2.0)


def test_oracle_frontier_by_hand() -> None:
    costs = np.array([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0]])
    scores = np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    f = m.oracle_frontier(scores, costs)
    assert f.cost.tolist() == [1.0, 1.5, 3.0]
    assert f.quality.tolist() == [0.0, 0.5, 1.0]


def test_oracle_frontier_is_the_hull_of_every_assignment() -> None:
    rng = np.random.default_rng(7)
    n, t = 5, 3
    scores = rng.integers(0, 3, size=(n, t)) / 2.0
    costs = np.sort(rng.uniform(0.5, 5.0, size=(n, t)), axis=1)
    points = [
        (costs[np.arange(n), a].mean(), scores[np.arange(n), a].mean())
        for a in map(list, itertools.product(range(t), repeat=n))
    ]
    brute = m.upper_frontier(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    f = m.oracle_frontier(scores, costs)
    grid = np.linspace(costs.min(), costs.max(), 50)
    assert np.allclose(f.at(grid), brute.at(grid))


def test_cut_points_match_explicit_assignment() -> None:
    rng = np.random.default_rng(3)
    n, t = 9, 3
    scores, costs = rng.random((n, t)), rng.random((n, t))
    complexity = rng.permutation(n).astype(float)  # distinct: no ties
    configs = m.cut_configs(n, t)
    cost, quality = m.cut_points(scores, costs, complexity, configs)
    rank = np.argsort(np.argsort(complexity))
    for (k1, k2), c, q in zip(configs, cost, quality):
        tier = np.where(rank < k1, 0, np.where(rank < k2, 1, 2))
        assert c == pytest.approx(costs[np.arange(n), tier].mean())
        assert q == pytest.approx(scores[np.arange(n), tier].mean())


def test_cut_configs_grid_is_bounded_and_ordered() -> None:
    configs = m.cut_configs(10_000, 3)
    assert len(configs) <= 50_000
    assert (configs[:, 0] <= configs[:, 1]).all()
    assert configs.min() == 0 and configs.max() == 10_000


def _three_tier(n: int = 300, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items of rising difficulty: tier t solves an item when its difficulty is below t's skill."""
    rng = np.random.default_rng(seed)
    difficulty = rng.random(n)
    skill = np.array([0.4, 0.7, 0.9])
    noise = rng.random((n, 3)) < 0.1
    scores = ((difficulty[:, None] < skill[None, :]) ^ noise).astype(float)
    costs = np.tile([1.0, 4.0, 12.0], (n, 1)) * rng.uniform(0.5, 1.5, size=(n, 1))
    return scores, costs, difficulty


def test_position_constant_router_is_exactly_random() -> None:
    scores, costs, _ = _three_tier()
    ev = evaluate_arrays(scores, costs, np.zeros(len(scores)))
    assert ev.summary["frontier"]["position"] == 0.0
    two = ev.summary["two_tier"]  # RouteLLM's metrics between the cheapest and strongest tier
    assert two["tier_indexes"] == [0, 2] and two["router"]["apgr"] == pytest.approx(0.5)
    informed = evaluate_arrays(scores, costs, _three_tier()[2]).summary["two_tier"]
    assert informed["router"]["apgr"] > 0.6 and informed["random"]["apgr"] == 0.5


def test_position_orders_informed_random_and_reversed_routers() -> None:
    scores, costs, difficulty = _three_tier()
    good = evaluate_arrays(scores, costs, difficulty).summary["frontier"]
    bad = evaluate_arrays(scores, costs, -difficulty).summary["frontier"]
    assert 0.3 < good["position"] <= 1.0  # noise flips cap what difficulty alone can do
    # A reversed ranking is worth nothing: its best settings are the single tiers (random line).
    assert abs(bad["position"]) < 0.1
    # An informed router needs less money for the same quality than random mixing.
    assert good["router"]["cost_at_95"] < good["random"]["cost_at_95"]
    assert good["oracle"]["cost_at_95"] <= good["router"]["cost_at_95"]
    assert good["oracle"]["quality_at_mid_cost"] >= good["router"]["quality_at_mid_cost"]


def test_random_router_position_is_near_zero_out_of_sample() -> None:
    scores, costs, _ = _three_tier(n=600)
    rng = np.random.default_rng(0)
    positions = [
        evaluate_arrays(scores, costs, rng.random(len(scores))).summary["frontier"]["position"]
        for _ in range(5)
    ]
    assert abs(float(np.mean(positions))) < 0.1


def test_two_tier_summary_positions() -> None:
    ev = evaluate_arrays(SCORES, COSTS, GOOD)
    two_tier = ev.summary["two_tier"]
    assert two_tier["random"]["apgr"] == 0.5
    assert two_tier["router"]["apgr"] == pytest.approx(0.75)
    assert two_tier["position"] == pytest.approx(1.0)  # as good as the oracle here


def _dataset() -> Dataset:
    return Dataset(
        name="tiny", score_kind="correct", ids=["a", "b"], prompts=["hi", "prove it"],
        models=["small", "big", "free"], tiers=["small", "big"],
        scores=np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]),
        output_tokens=np.ones((2, 3)), prompt_tokens=np.array([3.0, 4.0]),
        price_in=np.array([1.0, 10.0, np.nan]), price_out=np.array([2.0, 20.0, np.nan]),
    )


def test_select_tiers_errors_name_the_models() -> None:
    ds = _dataset()
    assert select_tiers(ds, None) == [0, 1]
    with pytest.raises(DatasetError, match="no model 'huge'; models: small, big, free"):
        select_tiers(ds, ["small", "huge"])
    with pytest.raises(DatasetError, match="no price for free"):
        select_tiers(ds, ["free", "big"])
    with pytest.raises(DatasetError, match="at least 2"):
        select_tiers(ds, ["big"])


def test_router_config_has_one_tier_per_dataset_tier() -> None:
    from tierwise.routing.registry import build_policy

    base = load_config(None, require_env=False)
    cfg = router_config(base, _dataset(), [0, 1])
    assert cfg.tier_names == ["small", "big"]
    assert cfg.routing.thresholds is None
    router = build_policy(cfg, "heuristic")
    assert router.route(__import__("tierwise.types").types.ChatRequest.from_prompt("hi")).tier in (
        "small", "big")
