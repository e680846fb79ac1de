"""Exact match and F1 as the official SQuAD 2.0 evaluation script computes them (v1.1 agrees on
answerable questions). Scores here are fractions in [0, 1], not percentages.

Unanswerable questions have no gold answer; the script then compares against the empty string,
so an empty prediction scores EM = F1 = 1 and any other prediction 0.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Dict, Iterable, List, Mapping, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (as the official script)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def get_tokens(s: str) -> List[str]:
    return normalize_answer(s).split() if s else []


def compute_exact(a_gold: str, a_pred: str) -> int:
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold: str, a_pred: str) -> float:
    gold_toks, pred_toks = get_tokens(a_gold), get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        # If either is no-answer, then F1 is 1 if they agree, 0 otherwise.
        return float(gold_toks == pred_toks)
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def gold_answers(answers: Iterable[str]) -> List[str]:
    """The script's gold list: answers that normalise to something, else ``[""]`` (no answer)."""
    golds = [a for a in answers if normalize_answer(a)]
    return golds or [""]


def score_question(answers: Sequence[str], prediction: str) -> Dict[str, float]:
    golds = gold_answers(answers)
    return {"exact_match": float(max(compute_exact(g, prediction) for g in golds)),
            "f1": float(max(compute_f1(g, prediction) for g in golds))}


def squad_evaluate(answers: Mapping[str, Sequence[str]], predictions: Mapping[str, str]) -> Dict[str, float]:
    """EM and F1 over all questions, and split by answerable (``has_ans_*``) / unanswerable (``no_ans_*``).

    ``answers`` maps question id → gold answer texts (empty for unanswerable); ``predictions``
    maps question id → predicted text ("" = no answer). A question without a prediction scores 0.
    """
    totals = {"all": [0.0, 0.0, 0], "has_ans": [0.0, 0.0, 0], "no_ans": [0.0, 0.0, 0]}
    for qid, golds in answers.items():
        if qid in predictions:
            s = score_question(golds, predictions[qid])
        else:
            s = {"exact_match": 0.0, "f1": 0.0}
        group = "has_ans" if any(normalize_answer(g) for g in golds) else "no_ans"
        for key in ("all", group):
            totals[key][0] += s["exact_match"]
            totals[key][1] += s["f1"]
            totals[key][2] += 1
    out: Dict[str, float] = {}
    for key, (em, f1, n) in totals.items():
        prefix = "" if key == "all" else key + "_"
        if n or key == "all":
            out[prefix + "exact_match"] = em / n if n else 0.0
            out[prefix + "f1"] = f1 / n if n else 0.0
        out[prefix + "n" if prefix else "n_questions"] = float(n)
    return out
