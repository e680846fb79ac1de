"""Leave-one-task-out evaluation of meta-models against the obvious baselines.

For every task in a history store, the methods are fitted on the *other* tasks only (variants
of the same data set, ``name@...``, leave together) and asked
to rank the configs that were tried on the held-out task. A method's best-of-k regret is the
normalised regret of the best of its top-k picks: ``(best - best_of_k) / (best - worst)`` over
the task's finished trials (1 = picked only the worst, failures or diverged runs; 0 = picked the
best; :mod:`.regret`). ``spread@k`` is the same for the k configs ``hpo-agent tune`` would verify
from that ranking: it passes over a config within :data:`~hpo_agent.agent.candidates.MIN_DISTANCE`
of one already picked (:func:`~hpo_agent.agent.candidates.spread_picks`), so a top-k of near-twins
that differ only in weight decay counts as one guess.

Methods:
- ``gbm`` / ``gbm_balanced`` / ``forest``: the meta-model learners (task meta-features + config →
  rank; ``_balanced`` weighs every task alike).
- ``average_rank``: zero-shot portfolio (as in Syne Tune): each config scored by its mean
  percentile rank on the other tasks (the nearest config there, when configs differ per task).
- ``nearest_task``: the same, but only from the task nearest in meta-feature space.
- ``random``: the expected best-of-k regret of k configs drawn at random (exact, by order statistics).
- ``fit_auto`` (with ``nested``): on each held-out task, the learner that ``fit --learner auto``
  picks by leave-one-task-out over the *other* tasks alone. The shipped learner's own row was
  chosen on the very tasks it is scored on; this row is what the choosing rule delivers on a task
  it never saw (:mod:`.loto`).
"""

from __future__ import annotations

from math import comb
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..agent.candidates import MIN_DISTANCE, scale_encoded, spread_picks
from .fit import Dataset, build_dataset
from .intervals import LEVEL, RESAMPLES, bootstrap_interval, paired_lower_share
from .learners import LEARNERS, task_group
from .loto import DEFAULT_RULE, RULE, RULES, held_out_scores, inner_scores, nested_choices, spearman
from .regret import best_of_k_regret, normalised_regrets

KS = (1, 3, 5, 10)
# Cost-aware view: the configs a method ranks first are "run" in its order until their recorded
# cost reaches this fraction of what running every recorded config of the task cost.
COST_FRACTIONS = (0.05, 0.1, 0.25)
RANDOM_ORDERS = 200  # permutations averaged for the random baseline's cost-capped regret
METHODS = (*LEARNERS, "average_rank", "nearest_task", "random")
# The nested row: on each held-out task, the learner ``fit --learner auto`` would choose from the
# other tasks alone (:func:`~.loto.nested_choices`); the honest figure for what ``fit`` ships.
NESTED = "fit_auto"


def spread_best_of_k_regret(values: np.ndarray, scores: np.ndarray, x_unit: np.ndarray, k: int, direction: str,
                            min_distance: float = MIN_DISTANCE) -> float:
    """Normalised regret of the best of the ``k`` configs ``tune`` would verify: the highest-scored
    ones with near-duplicates passed over (:func:`~hpo_agent.agent.candidates.spread_picks`)."""
    regrets = normalised_regrets(values, direction)
    if isinstance(regrets, float):
        return regrets
    return float(regrets[spread_picks(x_unit, scores, k, min_distance)].min())


def random_best_of_k_regret(values: np.ndarray, k: int, direction: str) -> float:
    """Expected normalised regret of the best of ``k`` configs drawn without replacement."""
    regrets = normalised_regrets(values, direction)
    if isinstance(regrets, float):
        return regrets
    asc = np.sort(regrets)  # best first
    n, k = len(asc), min(k, len(asc))
    # P(the best pick is the i-th best overall, i from 0) = C(n-1-i, k-1) / C(n, k).
    probs = np.array([comb(n - 1 - i, k - 1) for i in range(n)], dtype=np.float64) / comb(n, k)
    return float((probs * asc).sum())


def cost_capped_regret(values: np.ndarray, costs: np.ndarray, order: np.ndarray, fraction: float,
                       direction: str) -> float:
    """Normalised regret of the best config among those run in ``order`` until their cumulative
    cost would pass ``fraction`` of the total; 1.0 when not even the first fits; NaN without costs."""
    regrets = normalised_regrets(values, direction)
    if isinstance(regrets, float):
        return regrets
    c = np.asarray(costs, dtype=np.float64)
    if not np.isfinite(c).all() or c.sum() <= 0:
        return float("nan")
    cap = fraction * c.sum()
    spent = np.cumsum(c[order])
    taken = order[spent <= cap + 1e-12]
    return float(regrets[taken].min()) if len(taken) else 1.0


def _portfolio_scores(data: Dataset, test: np.ndarray, tasks: Sequence[str]) -> np.ndarray:
    """Mean over ``tasks`` of the rank that the nearest config there achieved."""
    rows = np.flatnonzero(test)
    x_test = _config_x(data, rows)
    total = np.zeros(len(rows))
    for task in tasks:
        idx = np.flatnonzero(data.tasks == task)
        x_other = _config_x(data, idx)
        d = ((x_test[:, None, :] - x_other[None, :, :]) ** 2).sum(-1)
        total += data.y[idx][np.argmin(d, axis=1)]
    return total / max(1, len(tasks))


def _config_x(data: Dataset, rows: np.ndarray) -> np.ndarray:
    """The rows' configs, unit-scaled by the space's bounds so every param weighs alike."""
    return scale_encoded(data.space, data.x[rows, len(data.meta_feature_names):])


def _nearest_task(data: Dataset, task: str, others: Sequence[str]) -> str:
    n_mf = len(data.meta_feature_names)
    mf = {t: data.x[np.flatnonzero(data.tasks == t)[0], :n_mf] for t in [task, *others]}
    scale = np.ptp(np.stack(list(mf.values())), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return min(others, key=lambda t: float((((mf[t] - mf[task]) / scale) ** 2).sum()))


def evaluate_loto(frame, methods: Sequence[str] = METHODS, ks: Sequence[int] = KS, seed: int = 0,
                  space=None, learner_params: Optional[Dict[str, Any]] = None, nested: bool = False,
                  derived: bool = True) -> Dict[str, Any]:
    """Leave-one-task-out scores for every method: per task and averaged. ``learner_params``
    override the learners' shipped settings (:func:`~.learners.make_learner`); ``derived=False``
    fits the learners without the derived features that ``fit`` adds (:mod:`.derived`).

    ``nested`` adds the row :data:`NESTED`: each held-out task scored with the learner that
    ``fit --learner auto`` chooses from the other tasks alone (it needs every learner in
    ``methods``; one leave-one-task-out per held-out data set, so about ten times the work).
    ``result['nested']['by_rule']`` holds the same for every rule of :data:`~.loto.RULES`.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; known: {', '.join(METHODS)}")
    if nested and not set(LEARNERS) <= set(methods):
        raise ValueError(f"the nested row chooses among all learners ({', '.join(LEARNERS)}); "
                         "evaluate them all or drop nested")
    data = build_dataset(frame, space)
    tasks = sorted(set(data.tasks))
    if len(tasks) < 2:
        raise ValueError(f"leave-one-task-out needs at least 2 tasks; the store has {len(tasks)}")
    predicted = {m: held_out_scores(data, m, seed, learner_params, derived) for m in methods if m in LEARNERS}
    per_task = {task: _evaluate_task(data, task, tasks, methods, ks, seed, predicted) for task in tasks}
    out: Dict[str, Any] = {"method": "leave-one-task-out", "tasks": tasks, "ks": list(ks)}
    if nested:
        inner = inner_scores(data, LEARNERS, seed, learner_params, derived)
        by_rule = {}
        for rule in RULES:
            picks = nested_choices(data, inner, rule)
            by_rule[rule] = {"rule": RULES[rule], "choices": picks, "summary": {
                key: _nanmean([per_task[t][m][key] for t, m in picks.items()])
                for key in (*(f"regret@{k}" for k in ks), "spearman")}}
        choices = by_rule[DEFAULT_RULE]["choices"]
        for task, learner in choices.items():
            per_task[task][NESTED] = dict(per_task[task][learner])
        methods = [*methods, NESTED]
        out["nested"] = {"rule": RULE, "rule_name": DEFAULT_RULE, "choices": choices,
                         "by_rule": by_rule}
    summary = {m: {key: _nanmean([per_task[t][m][key] for t in tasks if m in per_task[t]])
                   for key in per_task[tasks[0]][LEARNERS[0] if m == NESTED else m]} for m in methods}
    out.update(summary=summary, intervals=_intervals(per_task, tasks, methods, ks, seed))
    by_modality = _by_modality(data, per_task, tasks, methods, ks)
    if by_modality:
        out["by_modality"] = by_modality
    return {**out, "per_task": per_task}


def task_modalities(data: Dataset) -> Dict[str, str]:
    """``{task: modality}`` from the one-hot ``modality=...`` meta-features; empty when the
    histories carry other meta-features (imported tables with their own)."""
    columns = [i for i, name in enumerate(data.meta_feature_names) if name.startswith("modality=")]
    if not columns:
        return {}
    out = {}
    for task in sorted(set(data.tasks)):
        row = data.x[np.flatnonzero(data.tasks == task)[0], columns]
        out[task] = data.meta_feature_names[columns[int(np.argmax(row))]].split("=", 1)[1] if row.max() > 0 else "other"
    return out


def _by_modality(data: Dataset, per_task: Dict[str, Any], tasks: Sequence[str], methods: Sequence[str],
                 ks: Sequence[int]) -> Dict[str, Any]:
    """The summary's means over each modality's held-out tasks: where a mean's misses come from."""
    modality = task_modalities(data)
    keys = (*(f"regret@{k}" for k in ks), "spearman")
    out: Dict[str, Any] = {}
    for name in sorted(set(modality.values())):
        members = [t for t in tasks if modality.get(t) == name]
        out[name] = {"tasks": members, "data_sets": len({task_group(t) for t in members}),
                     "summary": {m: {k: _nanmean([per_task[t][m][k] for t in members if m in per_task[t]]) for k in keys}
                                 for m in methods}}
    return out


def _intervals(per_task: Dict[str, Any], tasks: Sequence[str], methods: Sequence[str], ks: Sequence[int],
               seed: int) -> Dict[str, Any]:
    """Bootstrap intervals of each method's means over data sets, and how often each method's mean
    regret is lower than the average-rank portfolio's on the same draws (:mod:`.intervals`)."""
    groups = {t: task_group(t) for t in tasks}
    keys = (*(f"regret@{k}" for k in ks), "spearman")

    def column(method: str, key: str) -> Dict[str, float]:
        return {t: float(per_task[t][method][key]) for t in tasks if method in per_task[t]}

    out: Dict[str, Any] = {"level": LEVEL, "resamples": RESAMPLES, "unit": "data set", "data_sets": len(set(groups.values())),
                           "methods": {m: {key: list(bootstrap_interval(column(m, key), groups, seed=seed)) for key in keys}
                                       for m in methods}}
    if "average_rank" in methods:
        out["vs_average_rank"] = {m: {f"regret@{k}": paired_lower_share(column(m, f"regret@{k}"),
                                                                        column("average_rank", f"regret@{k}"), groups, seed=seed)
                                      for k in ks} for m in methods if m != "average_rank"}
    return out


def _evaluate_task(data: Dataset, task: str, tasks: Sequence[str], methods, ks, seed: int,
                   predicted: Dict[str, Dict[str, np.ndarray]]) -> Dict[str, Any]:
    test = data.tasks == task
    # Variants of one data set (``digits``, ``digits@n300``) leave together: one seen in training
    # would tell the model the answer for the other.
    others = [t for t in tasks if task_group(t) != task_group(task)]
    values, direction = data.values[test], data.directions[task]
    entry: Dict[str, Any] = {"n_configs": int(test.sum())}
    costs = data.costs[test] if data.costs is not None else np.full(int(test.sum()), np.nan)
    x_unit = _config_x(data, np.flatnonzero(test))  # for spread@k: the configs as tune measures distance
    for method in methods:
        if method == "random":
            entry[method] = {f"regret@{k}": random_best_of_k_regret(values, k, direction) for k in ks}
            # no spread@k: passing over near-duplicates walks a ranking, and random has none
            entry[method]["spearman"] = 0.0
            rng = np.random.default_rng(seed)
            orders = [rng.permutation(len(values)) for _ in range(RANDOM_ORDERS)]
            for f in COST_FRACTIONS:
                entry[method][f"regret@cost{f:g}"] = float(np.mean(
                    [cost_capped_regret(values, costs, o, f, direction) for o in orders]))
            continue
        if method in LEARNERS:
            scores = predicted[method][task]
        elif method == "average_rank":
            scores = _portfolio_scores(data, test, others)
        else:
            scores = _portfolio_scores(data, test, [_nearest_task(data, task, others)])
        entry[method] = {f"regret@{k}": best_of_k_regret(values, scores, k, direction) for k in ks}
        entry[method].update({f"spread@{k}": spread_best_of_k_regret(values, scores, x_unit, k, direction)
                              for k in ks})
        entry[method]["spearman"] = spearman(scores, data.y[test])
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        for f in COST_FRACTIONS:
            entry[method][f"regret@cost{f:g}"] = cost_capped_regret(values, costs, order, f, direction)
    return entry


def _nanmean(xs: List[float]) -> float:
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.mean(xs)) if xs else float("nan")


def _render_intervals(result: Dict[str, Any]) -> List[str]:
    iv = result.get("intervals")
    if not iv:
        return []
    keys = [f"regret@{k}" for k in result["ks"]]
    head = f"{'interval':<14}" + "".join(f"{key:>15}" for key in keys)
    lines = ["", f"{100 * iv['level']:g}% bootstrap interval of the means over {iv['data_sets']} data sets "
                 f"({iv['resamples']} draws with replacement)", head, "-" * len(head)]
    for method, row in iv["methods"].items():
        lines.append(f"{method:<14}" + "".join(f"{f'{row[key][0]:.3f}-{row[key][1]:.3f}':>15}" for key in keys))
    if "vs_average_rank" in iv:
        head = f"{'< avg rank':<14}" + "".join(f"{key:>15}" for key in keys)
        lines += ["", "share of draws in which the mean regret is lower than average_rank's", head, "-" * len(head)]
        for method, row in iv["vs_average_rank"].items():
            lines.append(f"{method:<14}" + "".join(f"{100 * row[key]['lower']:>14.1f}%" for key in keys))
    return lines


def render(result: Dict[str, Any]) -> str:
    """A table: one row per method, mean over held-out tasks."""
    ks = result["ks"]
    head = f"{'method':<14}" + "".join(f"{'regret@' + str(k):>11}" for k in ks) + f"{'spearman':>10}"
    lines = [f"leave-one-task-out over {len(result['tasks'])} tasks: {', '.join(result['tasks'])}", head,
             "-" * len(head)]
    for method, row in result["summary"].items():
        lines.append(f"{method:<14}" + "".join(f"{row[f'regret@{k}']:>11.4f}" for k in ks)
                     + f"{row['spearman']:>10.3f}")
    if "nested" in result:
        picked = result["nested"]["choices"]
        counts = {m: list(picked.values()).count(m) for m in dict.fromkeys(sorted(picked.values()))}
        lines.append(f"{NESTED}: the learner fit --learner auto picks from the other tasks alone ("
                     + ", ".join(f"{m} on {n}" for m, n in counts.items()) + " held-out tasks)")
        for rule, entry in result["nested"].get("by_rule", {}).items():
            figures = ", ".join(f"{key} {value:.4f}" for key, value in entry["summary"].items() if key != "spearman")
            lines.append(f"  rule {rule}{' (fit uses it)' if rule == result['nested'].get('rule_name') else ''}: "
                         f"{figures} ({entry['rule']})")
    for name, group in result.get("by_modality", {}).items():
        lines += ["", f"{name}: {len(group['tasks'])} held-out task(s) of {group['data_sets']} data set(s)"]
        lines += [f"  {m:<12}" + "".join(f"{row[f'regret@{k}']:>11.4f}" for k in ks) + f"{row['spearman']:>10.3f}"
                  for m, row in group["summary"].items()]
    lines += _render_intervals(result)
    spread = [m for m, row in result["summary"].items() if f"spread@{ks[-1]}" in row]
    if spread:
        head = f"{'as tune picks':<14}" + "".join(f"{'spread@' + str(k):>11}" for k in ks)
        lines += ["", f"best of the k configs tune verifies (near-duplicates within {MIN_DISTANCE:g} passed over)",
                  head, "-" * len(head)]
        lines += [f"{m:<14}" + "".join(f"{result['summary'][m][f'spread@{k}']:>11.4f}" for k in ks) for m in spread]
    fracs = [f for f in COST_FRACTIONS if f"regret@cost{f:g}" in next(iter(result["summary"].values()))]
    if fracs:
        head = f"{'cost-capped':<14}" + "".join(f"{f'@{100 * f:g}% cost':>13}" for f in fracs)
        lines += ["", "regret with the recommended configs' recorded cost capped at a fraction of all configs' cost",
                  head, "-" * len(head)]
        for method, row in result["summary"].items():
            lines.append(f"{method:<14}" + "".join(f"{row[f'regret@cost{f:g}']:>13.4f}" for f in fracs))
    return "\n".join(lines)
