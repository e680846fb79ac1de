"""Bring-your-own-data tasks end to end: build from a ``scheme:path`` name, describe, train a
``TrialRun`` a few steps, evaluate. Tiny models and sizes: seconds in all."""

import csv
import random

import numpy as np
import pytest

from hpo_agent.agent import metafeatures
from hpo_agent.agent.tasks import get_task
from hpo_agent.agent.training import TrialRun

TINY_TEXT = dict(hidden_size=32, vocab_size=300, max_length=24)
CONFIG = dict(learning_rate=3e-3, batch_size=8, num_layers=1, dropout=0.1, optimizer="adam", weight_decay=0.0)

WORDS = {"sports": ["goal", "match", "team", "score", "league"], "tech": ["chip", "code", "laptop", "cloud", "robot"],
         "food": ["bread", "cheese", "soup", "apple", "salad"]}


@pytest.fixture(autouse=True)
def _tokenizer_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HPO_AGENT_CACHE_DIR", str(tmp_path / "cache"))


def _sentences(n, seed=0):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topic = list(WORDS)[i % 3]
        rows.append((" ".join(rng.choice(WORDS[topic]) for _ in range(6)) + " today", topic))
    return rows


def _news_csv(tmp_path, n):
    """A headline,topic CSV of ``n`` synthetic rows (three topics)."""
    path = tmp_path / "news.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["headline", "topic"])
        writer.writerows(_sentences(n))
    return path


def _train_and_check(task, config=CONFIG, steps=5):
    desc = task.describe()
    features = metafeatures.compute(desc)  # the same meta-features as every task
    assert features["log10_n_train"] > 0
    run = TrialRun(task, config, seed=1)
    run.train(steps=steps)
    assert run.steps == steps and np.isfinite(run.last_loss)
    val = run.evaluate("validation")
    test = run.evaluate("test")
    assert task.metric.name in val and task.metric.name in test
    return desc, val, test


def test_csv_text_classification_end_to_end(tmp_path):
    path = _news_csv(tmp_path, 90)
    task = get_task(f"csv:{path}", seed=0, text_column="headline", label_column="topic", **TINY_TEXT)
    desc, val, _ = _train_and_check(task, steps=6)
    assert task.name == "csv_news"
    assert desc.modality == "text" and desc.task_type == "classification" and desc.n_classes == 3
    assert task.label_names == ["food", "sports", "tech"]
    assert desc.n_train == 72 and desc.extra["n_validation"] == 9 and desc.extra["n_test"] == 9
    assert 0.0 <= val["accuracy"] <= 1.0 and "macro_f1" in val
    assert 5 < desc.input_size <= 24
    # the trained tokenizer knows the corpus' words
    assert "[UNK]" not in task.tokenizer.tokenize("goal chip soup")


def test_csv_regression_with_text_pairs(tmp_path):
    path = tmp_path / "sim.jsonl"
    rows = _sentences(60, seed=1)
    import json

    with open(path, "w") as f:
        for (a, ta), (b, tb) in zip(rows, rows[1:] + rows[:1]):
            f.write(json.dumps({"s1": a, "s2": b, "score": 4.5 if ta == tb else 0.5 + 0.01 * len(a)}) + "\n")
    task = get_task(f"jsonl:{path}", text_column="s1", text_pair_column="s2", label_column="score",
                    model="distilbert", **TINY_TEXT)
    desc, val, _ = _train_and_check(task)
    assert desc.task_type == "regression" and desc.n_classes == 1
    assert task.metric.name == "mse" and task.metric.direction == "min"
    assert {"mse", "pearson", "spearman"} <= set(val)


def test_csv_folder_with_split_files_and_roberta(tmp_path):
    rows = _sentences(60, seed=2)
    for split, part in (("train", rows[:40]), ("validation", rows[40:50]), ("test", rows[50:])):
        with open(tmp_path / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows(part)
    task = get_task(f"csv:{tmp_path}", model="roberta", **TINY_TEXT)
    desc, _, test = _train_and_check(task)
    assert desc.n_train == 40 and test["n_rows"] == 10


def test_csv_missing_column_is_named(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\nhello,1\n")
    with pytest.raises(ValueError, match="no column 'text'.*text_column="):
        get_task(f"csv:{path}").ensure_loaded()


def test_npz_images_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = rng.integers(0, 255, size=(60, 16, 16), dtype=np.uint8)
    x[y == 1, :8] = 255  # learnable signal
    np.savez(tmp_path / "imgs.npz", x=x, y=y)
    task = get_task(f"npz:{tmp_path / 'imgs.npz'}", model="resnet18")
    desc, val, _ = _train_and_check(task, dict(CONFIG, num_layers=2))
    assert desc.modality == "image" and desc.input_size == 16 * 16 and desc.n_classes == 3
    assert task.channels == 1 and not task.augment
    assert desc.model_params == task.count_params({"num_layers": 8})


def test_npz_table_regression_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 5)).astype(np.float32)
    y = (x @ np.arange(5) + 0.1 * rng.normal(size=80)).astype(np.float32)
    np.savez(tmp_path / "table.npz", x_train=x[:60], y_train=y[:60], x_test=x[60:], y_test=y[60:])
    task = get_task(f"npz:{tmp_path / 'table.npz'}")
    desc, val, test = _train_and_check(task, dict(CONFIG, num_layers=2), steps=20)
    assert desc.modality == "tabular" and desc.task_type == "regression" and desc.input_size == 5
    assert test["n_rows"] == 20 and task.metric.direction == "min"
    built = task.build_model({"num_layers": 2, "dropout": 0.0})
    assert task.count_params({"num_layers": 2}) == sum(p.numel() for p in built.parameters())


def test_imagefolder_end_to_end(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, colour in (("cats", 0), ("dogs", 2)):
        (tmp_path / "data" / c).mkdir(parents=True)
        for i in range(12):
            arr = rng.integers(0, 80, size=(20, 24, 3), dtype=np.uint8)
            arr[:, :, colour] = 220
            Image.fromarray(arr).save(tmp_path / "data" / c / f"{i}.png")
    task = get_task(f"imagefolder:{tmp_path / 'data'}", model="resnet18", max_train=16)
    desc, _, _ = _train_and_check(task, dict(CONFIG, num_layers=1))
    assert task.label_names == ["cats", "dogs"] and task.image_size == 24
    assert desc.n_train == 16 and desc.input_size == 24 * 24 * 3


def test_unknown_scheme_options_are_refused(tmp_path):
    np.savez(tmp_path / "t.npz", x=np.zeros((10, 3)), y=np.arange(10) % 2)
    with pytest.raises(ValueError, match="apply to images"):
        get_task(f"npz:{tmp_path / 't.npz'}", image_size=32)
    with pytest.raises(ValueError, match="x and y"):
        np.savez(tmp_path / "u.npz", a=np.zeros(3))
        get_task(f"npz:{tmp_path / 'u.npz'}")


def test_csv_text_task_tunes_end_to_end_through_the_cli(tmp_path):
    import json

    from click.testing import CliRunner

    from hpo_agent.agent.cli import cli

    path = _news_csv(tmp_path, 120)
    options = ["text_column=headline", "label_column=topic"] + [f"{k}={v}" for k, v in TINY_TEXT.items()]
    args = ["tune", "--task", f"csv:{path}", "--budget", "25s", "--candidates", "3", "--brackets", "1",
            "--out", str(tmp_path / "runs")]
    for option in options:
        args += ["--task-option", option]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(next((tmp_path / "runs").glob("*/report.json")).read_text())
    assert report["metric"]["name"] == "accuracy" and len(report["trials"]) == 3
    assert 0.0 <= report["best"]["test_accuracy"] <= 1.0
