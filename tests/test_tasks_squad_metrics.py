"""SQuAD exact match / F1 against hand-worked examples (the official v2.0 script's rules)."""

import pytest

from hpo_agent.agent.tasks.squad_metrics import (compute_exact, compute_f1, gold_answers, normalize_answer,
                                                 score_question, squad_evaluate)


def test_normalize_drops_case_punctuation_articles_and_spaces():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("  Théâtre ") == "théâtre"


def test_exact_match():
    assert compute_exact("The Normans", "normans") == 1
    assert compute_exact("Normans", "the Norman") == 0


def test_f1_partial_overlap_by_hand():
    # gold tokens: [10th, and, 11th, centuries]; pred tokens: [11th, centuries]
    # common 2 → precision 2/2, recall 2/4 → F1 = 2·1·0.5 / 1.5 = 2/3
    assert compute_f1("10th and 11th centuries", "11th centuries") == pytest.approx(2 / 3)
    # repeated tokens count with multiplicity: gold [x, y, y] vs pred [y, y, y] → common 2, P = R = 2/3
    assert compute_f1("x y y", "y y y") == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))


def test_f1_disjoint_is_zero():
    assert compute_f1("Paris", "London") == 0.0


def test_unanswerable_empty_prediction_scores_one():
    assert score_question([], "") == {"exact_match": 1.0, "f1": 1.0}
    assert score_question([], "in 1066") == {"exact_match": 0.0, "f1": 0.0}
    # an answerable question answered with nothing scores 0
    assert score_question(["1066"], "") == {"exact_match": 0.0, "f1": 0.0}


def test_gold_answers_that_normalise_to_nothing_count_as_no_answer():
    assert gold_answers(["the", "  "]) == [""]
    assert score_question(["a"], "") == {"exact_match": 1.0, "f1": 1.0}


def test_max_over_gold_answers():
    s = score_question(["Denmark, Iceland and Norway", "Denmark"], "denmark")
    assert s == {"exact_match": 1.0, "f1": 1.0}


def test_squad_evaluate_aggregates_and_splits_has_and_no_answer():
    answers = {"q1": ["France"], "q2": ["10th and 11th centuries"], "q3": [], "q4": []}
    preds = {"q1": "france", "q2": "11th centuries", "q3": "", "q4": "Rollo"}
    out = squad_evaluate(answers, preds)
    assert out["exact_match"] == pytest.approx((1 + 0 + 1 + 0) / 4)
    assert out["f1"] == pytest.approx((1 + 2 / 3 + 1 + 0) / 4)
    assert out["has_ans_f1"] == pytest.approx((1 + 2 / 3) / 2)
    assert out["no_ans_exact_match"] == pytest.approx(0.5)
    assert out["n_questions"] == 4 and out["has_ans_n"] == 2 and out["no_ans_n"] == 2


def test_missing_prediction_scores_zero():
    out = squad_evaluate({"q1": ["x"]}, {})
    assert out["exact_match"] == 0.0 and out["f1"] == 0.0
