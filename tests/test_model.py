from pathlib import Path

import pytest
import torch

from hpt_core.config import HPTConfig
from hpt_core.errors import HPTInputError
from hpt_core.graph import HierarchyInjection, build_edge_index
from hpt_core.methods import METHODS, resolve_method
from hpt_core.model import HPTModel, build_model, head_word
from hpt_core.classifier import model_scores


@pytest.fixture()
def model(tiny_backbone, hierarchy):
    torch.manual_seed(0)
    return build_model(resolve_method("hpt", backbone=tiny_backbone, max_length=32), hierarchy)


def test_template_layout_puts_one_template_token_and_pred_per_depth(model):
    batch = model.collate(model.tokenize(["goal striker"]))
    tokens = model.tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    assert tokens[:4] == ["[CLS]", "goal", "striker", "[SEP]"]
    # [V1][PRED][V2][PRED][V3][PRED][SEP]: template slots hold [PAD] placeholders until embedded
    assert tokens[4:] == ["[PAD]", "[MASK]"] * 3 + ["[SEP]"]
    assert batch["template_positions"].tolist() == [[4, 6, 8]]
    assert batch["pred_positions"].tolist() == [[5, 7, 9]]


def test_long_text_is_truncated_so_the_template_still_fits(model):
    batch = model.collate(model.tokenize(["goal " * 500]))
    assert batch["input_ids"].shape[1] == 32
    assert batch["pred_positions"][0, -1] == 30 and batch["input_ids"][0, -1] == model.tokenizer.sep_token_id


def test_batches_are_padded_to_their_longest_text_only(model):
    batch = model.collate(model.tokenize(["goal", "goal striker pitch"]))
    assert batch["input_ids"].shape[1] == 3 + 2 + 7
    assert batch["attention_mask"][0].sum() == 3 + 7


def test_label_words_start_as_mean_name_embedding_and_pred_as_mask(model, hierarchy):
    embeddings = model.mlm.get_input_embeddings().weight
    ids = model.tokenizer("football", add_special_tokens=False)["input_ids"]
    index = hierarchy.label_to_index["football"]
    assert torch.allclose(model.label_words[index], embeddings[ids].mean(0))
    assert torch.allclose(model.pred_embedding, embeddings[model.tokenizer.mask_token_id])


def test_virtual_nodes_receive_messages_from_their_depth_labels(model, hierarchy):
    """The gradient wrt a depth-i label word reaches t'_i (the authors' code blocks this flow)."""
    for depth in range(1, hierarchy.max_depth + 1):
        model.zero_grad()
        template = model.template_embeddings()
        template[depth - 1].sum().backward()
        grad = model.label_words.grad.abs().sum(-1)
        at_depth = torch.tensor([d == depth for d in hierarchy.depths])
        assert (grad[at_depth] > 0).all(), f"depth {depth} labels do not reach t'_{depth}"
        # one GAT layer and the depth connection: other depths are two hops away
        assert (grad[~at_depth] == 0).all()


def test_edges_run_both_ways_so_every_label_word_learns_through_the_virtual_nodes(hierarchy):
    """The authors' code joined labels and virtual nodes one way (virtual → label), so the template's
    loss never reached a label word through the graph. ``build_edge_index`` must give every edge both
    directions, and through those edges every label word gets gradient from the template (eq. 4–5).
    Fails if ``build_edge_index`` drops the label → virtual direction (checked)."""
    edges = build_edge_index(hierarchy)
    n_labels = len(hierarchy.labels)
    pairs = set(map(tuple, edges.t().tolist()))
    assert all((target, source) in pairs for source, target in pairs)
    assert {d for s, t in pairs if s < n_labels <= t for d in [t - n_labels + 1]} == set(range(1, hierarchy.max_depth + 1))
    torch.manual_seed(0)
    words = torch.randn(n_labels, 8, requires_grad=True)
    HierarchyInjection(8, edges, n_labels)(words, torch.randn(hierarchy.max_depth, 8)).sum().backward()
    assert words.grad is not None and bool((words.grad.abs().sum(dim=1) > 0).all())


def _label_word_gradient_through_the_template(model, hierarchy) -> torch.Tensor:
    """|dL/d(label words)| along the graph path alone, per label (C,).

    Label words also get gradient directly from the scores they make; this pulls the loss's
    gradient at the template back through ``t' = t + g(label words, t)`` only.
    """
    model.train()
    batch = model.collate(model.tokenize(["goal striker"]))
    labels = torch.tensor(hierarchy.multi_hot([["sports", "football"]]), dtype=torch.float)
    captured = {}
    template_embeddings = model.template_embeddings

    def hooked():
        t = template_embeddings()
        t.register_hook(lambda g: captured.setdefault("dL/dt'", g))
        return t

    model.template_embeddings = hooked
    try:
        model(batch, labels)["loss"].backward()
    finally:
        del model.template_embeddings
    (through_template,) = torch.autograd.grad(model.template_embeddings(), model.label_words,
                                              grad_outputs=captured["dL/dt'"])
    return through_template.abs().sum(-1)


def test_the_whole_loss_reaches_label_words_through_the_template(model, hierarchy):
    grad = _label_word_gradient_through_the_template(model, hierarchy)
    # every label word, at every depth, hears from the loss through its virtual node
    assert (grad > 0).all()


def test_with_one_way_edges_no_loss_reaches_label_words_through_the_template(model, hierarchy):
    """The authors' virtual -> label edges only: the test above must then fail."""
    edges = model.injection.edge_index
    model.injection.edge_index = edges[:, edges[0] >= len(hierarchy.labels)]
    grad = _label_word_gradient_through_the_template(model, hierarchy)
    assert (grad == 0).all()


def test_a_pretrained_mlm_head_trains_with_the_encoder_and_a_fresh_one_as_new(tmp_path, tiny_backbone, hierarchy):
    from transformers import BertModel

    from hpt_core.backbone import mlm_head

    config = resolve_method("hpt", backbone=tiny_backbone, max_length=32)
    shipped = build_model(config, hierarchy)  # the tiny backbone was saved with its MLM head
    new_ids = {id(p) for p in shipped.new_parameters()}
    head = [p for p in mlm_head(shipped.mlm).parameters()]
    assert head and not any(id(p) in new_ids for p in head)
    assert id(shipped.label_words) in new_ids

    encoder_only = tmp_path / "encoder-only"
    BertModel.from_pretrained(tiny_backbone).save_pretrained(encoder_only)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (Path(tiny_backbone) / name).is_file():
            (encoder_only / name).write_bytes((Path(tiny_backbone) / name).read_bytes())
    fresh = build_model(config.replace(backbone=str(encoder_only)), hierarchy)
    new_ids = {id(p) for p in fresh.new_parameters()}
    transform = fresh.mlm.cls.predictions.transform
    assert all(id(p) in new_ids for p in transform.parameters())
    # the decoder is tied to the word embeddings: those stay the encoder's
    assert id(fresh.mlm.get_input_embeddings().weight) not in new_ids


def test_each_pred_slot_scores_only_its_own_depth(model, hierarchy):
    model.eval()
    batch = model.collate(model.tokenize(["goal striker"]))
    hidden = model.encode(batch).detach()
    base = model.score(hidden, batch["pred_positions"])
    changed = hidden.clone()
    changed[0, batch["pred_positions"][0, 1]] += 5.0  # the depth-2 [PRED]
    moved = (model.score(changed, batch["pred_positions"]) - base).abs()[0] > 1e-6
    assert moved.tolist() == [d == 2 for d in hierarchy.depths]


def test_mlm_logits_are_computed_only_at_masked_positions(model, hierarchy, monkeypatch):
    from hpt_core import model as model_module

    seen = {}
    real_head = model_module.mlm_head

    def spy(mlm):
        head = real_head(mlm)

        def recording_head(hidden):
            seen["rows"] = hidden.shape[0]
            return head(hidden)

        return recording_head

    monkeypatch.setattr(model_module, "mlm_head", spy)
    model.train()
    torch.manual_seed(0)
    batch = model.collate(model.tokenize(["goal striker pitch penalty we saw a report on it today"] * 4))
    labels = torch.tensor(hierarchy.multi_hot([["sports", "football"]] * 4), dtype=torch.float)
    out = model(batch, labels)
    n_text = int(batch["text_mask"].sum())
    assert 0 < seen["rows"] < n_text and "mlm_loss" in out


@pytest.mark.parametrize("recipe", ["paper", "small-data"])
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_a_step_and_round_trips(method, recipe, tiny_backbone, hierarchy, tmp_path):
    torch.manual_seed(0)
    model = build_model(resolve_method(method, recipe=recipe, backbone=tiny_backbone, max_length=32), hierarchy)
    model.train()
    batch = model.collate(model.tokenize(["goal striker", "lens laser photon"]))
    labels = torch.tensor(hierarchy.multi_hot([["football"], ["optics"]]), dtype=torch.float)
    out = model(batch, labels)
    assert out["scores"].shape == (2, len(hierarchy.labels))
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    model.save_pretrained(tmp_path / "m")
    loaded = HPTModel.from_pretrained(tmp_path / "m")
    texts = ["goal striker pitch", "canvas painting"]
    assert torch.equal(model_scores(model, texts), model_scores(loaded, texts))
    assert loaded.config == model.config and loaded.hierarchy == hierarchy


def test_saved_folder_holds_no_pickle(model, tmp_path):
    folder = model.save_pretrained(tmp_path / "m")
    names = sorted(p.name for p in folder.iterdir())
    assert "model.safetensors" in names and "config.json" in names and "hierarchy.json" in names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pkl", ".pickle"))]


def test_loading_a_folder_that_is_not_a_model_is_a_clear_error(tmp_path):
    from hpt_core.errors import HPTInputError

    with pytest.raises(HPTInputError, match="not a usable model folder"):
        HPTModel.from_pretrained(tmp_path)


def test_head_word_of_label_names():
    assert head_word("Alzheimer's Disease") == "Disease"
    assert head_word("Diseases of the heart") == "Diseases"


def test_ablation_configs_differ_only_in_their_component():
    hpt = resolve_method("hpt")
    assert resolve_method("rm-injection").injection == "none"
    assert resolve_method("rm-constraint").hierarchy_constraint is False
    assert resolve_method("rm-zmlce").classification_loss == "bce"
    assert resolve_method("rm-mlm").mlm_weight == 0
    assert resolve_method("depth-increasing").connection == "depth_increasing"
    assert resolve_method("random-connection").connection == "random"
    assert resolve_method("gcn").injection == "gcn"
    assert resolve_method("rm-injection").replace(injection="gat", method="hpt") == hpt


def test_label_words_can_start_from_user_descriptions(tiny_backbone, hierarchy):
    described = hierarchy.with_descriptions({"football": "goal striker pitch"})
    model = build_model(resolve_method("hpt", backbone=tiny_backbone, max_length=32, label_word_init="description"), described)
    embeddings = model.mlm.get_input_embeddings().weight
    ids = model.tokenizer("goal striker pitch", add_special_tokens=False)["input_ids"]
    assert torch.allclose(model.label_words[described.label_to_index["football"]], embeddings[ids].mean(0))
    # labels without a description fall back to their name
    tennis = model.tokenizer("tennis", add_special_tokens=False)["input_ids"]
    assert torch.allclose(model.label_words[described.label_to_index["tennis"]], embeddings[tennis].mean(0))


def test_label_words_from_the_encoder_are_centred_among_siblings(tiny_backbone, hierarchy):
    model = build_model(resolve_method("hpt", backbone=tiny_backbone, max_length=32, label_word_encoding="encoder"), hierarchy)
    words = model.label_words.detach()
    for depth in range(1, hierarchy.max_depth + 1):
        siblings = words[hierarchy.indices_at_depth(depth)]
        if len(siblings) > 1:
            assert torch.allclose(siblings.mean(0), torch.zeros_like(siblings[0]), atol=1e-5)
    # deterministic (no dropout) and different from the paper's word-embedding start
    again = build_model(resolve_method("hpt", backbone=tiny_backbone, max_length=32, label_word_encoding="encoder"), hierarchy)
    assert torch.allclose(words, again.label_words.detach())
    paper = build_model(resolve_method("hpt", backbone=tiny_backbone, max_length=32), hierarchy)
    assert not torch.allclose(words, paper.label_words.detach())


def test_text_residual_gate_adds_the_mean_text_state_to_each_pred_slot(tiny_backbone, hierarchy):
    model = build_model(resolve_method("hpt", backbone=tiny_backbone, max_length=32, text_residual_gate=0.0), hierarchy).eval()
    assert model.text_gate.shape == (hierarchy.max_depth,)
    assert any(p is model.text_gate for p in model.new_parameters())
    batch = model.collate(model.tokenize(["goal striker pitch", "racket serve"]))
    with torch.no_grad():
        hidden = model.encode(batch)
        closed = model.score(hidden, batch["pred_positions"], batch["text_mask"])
        model.text_gate.fill_(2.0)
        opened = model.score(hidden, batch["pred_positions"], batch["text_mask"])
    keep = batch["text_mask"].unsqueeze(-1).float()
    pooled = (hidden * keep).sum(1) / keep.sum(1)  # (B, d)
    expected = 2.0 * pooled @ model.label_words.t()  # each label's share of the residual
    assert torch.allclose(opened - closed, expected, atol=1e-4)


def test_recipes_apply_label_word_options_only_where_a_method_has_label_words():
    hpt = resolve_method("hpt", recipe="small-data")
    assert (hpt.label_word_encoding, hpt.text_residual_gate) == ("encoder", 3.0)
    assert resolve_method("hpt", recipe="paper") == resolve_method("hpt") == HPTConfig()
    for baseline in ("vanilla", "hard-prompt"):
        # Only what every method can use (attention dropout) comes from the recipe's model options.
        assert resolve_method(baseline, recipe="small-data") == resolve_method(baseline, attention_dropout=0.0)
    with pytest.raises(HPTInputError, match="text_residual_gate"):
        resolve_method("vanilla", text_residual_gate=1.0)


def test_the_paper_model_and_what_is_built_on_it_are_configured_apart():
    """Issue 20: the lexical channel, the blend and the decision rule are the pipeline's settings
    (``PipelineConfig``), never the model's: the model's config has no such fields, the recipe
    sets them apart, and handing one to the model is one clear line."""
    from hpt_core.config import PIPELINE_FIELDS, PipelineConfig
    from hpt_core.recipes import pipeline_recipe

    assert not set(PIPELINE_FIELDS) & set(HPTConfig().to_dict())
    assert pipeline_recipe("paper") == PipelineConfig() == PipelineConfig(lexical_channel=None, blend=None, decision="threshold")
    assert pipeline_recipe("small-data") == PipelineConfig(lexical_channel="tfidf", blend="classical", decision="auto")
    with pytest.raises(HPTInputError, match="PipelineConfig"):
        resolve_method("hpt", lexical_channel="tfidf")
    # a model folder's config.json or a run.json written before the split still loads
    assert HPTConfig.from_dict({"method": "hpt", "lexical_channel": "tfidf", "decision": "path"}) == HPTConfig()


# ---- whole documents (several windows per text) --------------------------------------------------
def _windowed(tiny_backbone, hierarchy, **options):
    torch.manual_seed(0)
    config = resolve_method("hpt", backbone=tiny_backbone, max_length=32, **options)
    return build_model(config, hierarchy).eval()


LONG = " ".join(["we saw a report on it today and then some more news about this"] * 3) + " lens laser photon mirror"


def test_one_window_is_exactly_the_first_window_model(tiny_backbone, hierarchy):
    one = _windowed(tiny_backbone, hierarchy)
    batch = one.collate(one.tokenize([LONG, "goal striker"]))
    assert torch.equal(one(batch)["scores"], model_scores(one, [LONG, "goal striker"]))


def test_windows_pool_the_scores_of_each_window_per_label(tiny_backbone, hierarchy):
    pooled = {}
    for pooling in ("max", "mean"):
        model = _windowed(tiny_backbone, hierarchy, max_windows=3, window_overlap=4, window_pooling=pooling)
        [doc], _, _ = model.tokenize_windows([LONG])
        assert len(doc) == 3
        each = model(model.collate(doc))["scores"]  # (3, C): the windows scored one by one
        scores, reading = model_scores(model, [LONG, "goal"], return_reading=True)
        expected = each.max(0).values if pooling == "max" else each.mean(0)
        assert torch.allclose(scores[0], expected, atol=1e-5)
        assert reading[0]["windows"] == 3 and reading[1] == {"tokens_total": 1, "tokens_read": 1, "windows": 1}
        pooled[pooling] = scores[0]
    # the keywords sit in the last window only: a single window never sees them
    first_only = model_scores(_windowed(tiny_backbone, hierarchy), [LONG])[0]
    assert not torch.allclose(pooled["max"], first_only, atol=1e-4)


def test_the_loss_is_taken_on_the_pooled_document_scores(tiny_backbone, hierarchy):
    model = _windowed(tiny_backbone, hierarchy, max_windows=3, window_overlap=4, mlm_weight=0.0)
    windows, _, _ = model.tokenize_windows([LONG, "goal striker"])
    batch = model.collate_documents(windows)
    assert batch["input_ids"].shape[0] == 4 and batch["document_index"].tolist() == [0, 0, 0, 1]
    labels = torch.tensor(hierarchy.multi_hot([["science", "physics", "optics"], ["sports", "football"]]), dtype=torch.float32)
    out = model(batch, labels)
    assert out["scores"].shape == (2, len(hierarchy.labels))
    out["loss"].backward()
    assert model.label_words.grad.abs().sum() > 0


def test_window_options_are_saved_with_the_model(tiny_backbone, hierarchy, tmp_path):
    model = _windowed(tiny_backbone, hierarchy, max_windows=3, window_overlap=4, window_pooling="mean")
    loaded = HPTModel.from_pretrained(model.save_pretrained(tmp_path / "m"))
    assert (loaded.config.max_windows, loaded.config.window_overlap, loaded.config.window_pooling) == (3, 4, "mean")
    assert torch.allclose(model_scores(loaded, [LONG]), model_scores(model, [LONG]), atol=1e-6)


def test_batch_scores_come_back_in_input_order_although_batched_by_length(tiny_backbone, hierarchy):
    model = _windowed(tiny_backbone, hierarchy)
    texts = ["goal", LONG, "lens laser", "cell gene protein enzyme we saw", "arts"]
    together = model_scores(model, texts, batch_size=2)
    alone = torch.cat([model_scores(model, [t]) for t in texts])
    assert torch.allclose(together, alone, atol=1e-5)


def test_bad_window_options_are_refused():
    with pytest.raises(HPTInputError, match="window_overlap"):
        HPTConfig(max_length=64, max_windows=2, window_overlap=32)
    with pytest.raises(HPTInputError, match="max_windows"):
        HPTConfig(max_windows=0)
    with pytest.raises(HPTInputError, match="window_pooling"):
        HPTConfig(window_pooling="sum")


def test_attention_dropout_option_reaches_every_layer_and_is_saved(tiny_backbone, hierarchy, tmp_path):
    from hpt_core.recipes import RECIPES

    assert RECIPES["small-data"].model["attention_dropout"] == 0.0 and HPTConfig().attention_dropout is None
    model = _windowed(tiny_backbone, hierarchy, attention_dropout=0.25)
    probabilities = [m.p for n, m in model.mlm.named_modules() if n.endswith("attention.self.dropout")]
    assert probabilities == [0.25, 0.25]  # two layers
    loaded = HPTModel.from_pretrained(model.save_pretrained(tmp_path / "m"))
    assert loaded.mlm.config.attention_probs_dropout_prob == 0.25 and loaded.config.attention_dropout == 0.25


def test_inference_reuses_the_injected_template_until_a_parameter_changes(tiny_backbone, hierarchy):
    model = _windowed(tiny_backbone, hierarchy)
    fresh = model.injection(model.label_words, model.template).detach()
    with torch.inference_mode():
        first = model.template_embeddings()
        assert torch.equal(first, fresh) and model.template_embeddings() is first
    with torch.no_grad():
        model.label_words.add_(1.0)  # what an optimiser step does
    with torch.inference_mode():
        assert not torch.equal(model.template_embeddings(), first)
        assert torch.allclose(model.template_embeddings(), model.injection(model.label_words, model.template))


def test_a_hierarchy_json_of_another_tree_of_the_same_shape_is_refused(model, hierarchy, tmp_path):
    """Same number of labels, same depths, other names: the weights would load and answer with the
    wrong names, so the folder says it is unusable instead."""
    from hpt_core.errors import HPTInputError
    from hpt_core.hierarchy import LabelHierarchy

    folder = model.save_pretrained(tmp_path / "m")
    parent_of = {label: (hierarchy.labels[p] if p >= 0 else "Root") for label, p in zip(hierarchy.labels, hierarchy.parent_index)}
    renamed = LabelHierarchy([(parent if parent == "Root" else parent.upper(), label.upper()) for label, parent in parent_of.items()])
    assert len(renamed.labels) == len(hierarchy.labels) and renamed.depths == hierarchy.depths
    renamed.to_json(folder / "hierarchy.json")
    with pytest.raises(HPTInputError, match="not the label tree these weights were trained on"):
        HPTModel.from_pretrained(folder)


def test_a_model_built_under_inference_mode_still_predicts(tiny_backbone, hierarchy):
    """Parameters made inside ``torch.inference_mode`` have no version counter (the template cache's key):
    batch prediction in such a block used to raise instead of scoring."""
    with torch.inference_mode():
        model = _windowed(tiny_backbone, hierarchy).eval()
        scores = model_scores(model, ["the striker scored", "a new graphics card"])
    assert scores.shape == (2, len(hierarchy.labels)) and torch.isfinite(scores).all()
