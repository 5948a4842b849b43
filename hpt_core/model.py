"""The HPT model: a masked LM, a depth template, virtual label words and the hierarchy injection.

One class covers HPT, its ablations and the baselines; ``HPTConfig`` decides which parts exist.
A trained model is a folder: ``config.json`` (HPTConfig + the backbone's architecture),
``hierarchy.json``, the tokenizer files and ``model.safetensors``. ``HPTModel.from_pretrained(dir)``
rebuilds it from that folder alone, with no download and no unpickling.

This module is the paper (sections 3-4) and nothing built on top of it: what we add around the
model, and batched inference over raw texts, are composed by ``hpt_core.classifier``, which the
model meets only through ``forward``'s generic ``score_offset``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_model, save_model
from torch import nn

from hpt_core.backbone import backbone_from_config, head_transform, load_backbone, mlm_head, set_attention_dropout
from hpt_core.config import HPTConfig
from hpt_core.durable import recover, replace_folder
from hpt_core.errors import HPTInputError
from hpt_core.graph import HierarchyInjection, build_edge_index
from hpt_core.hierarchy import LabelHierarchy
from hpt_core.losses import bce_loss, mask_tokens, zmlce_loss
from hpt_core.template import build_layout, check_input_length, collate, collate_windows, tokenize_texts, tokenize_windows
from hpt_core.pooling import masked_mean

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
HIERARCHY_NAME = "hierarchy.json"


def head_word(name: str) -> str:
    """The head word of a label name, for the hard-prompt verbalizer.

    English noun phrases put their head last unless a preposition or conjunction follows it:
    ``"Machine learning" -> "learning"``, ``"Diseases of the heart" -> "Diseases"``.

    >>> head_word("Machine learning"), head_word("Diseases of the heart"), head_word("hardware")
    ('learning', 'Diseases', 'hardware')
    """
    words = name.replace(",", " , ").split()
    for i, word in enumerate(words):
        if word.lower() in {"of", "for", "in", "and", "on", "with", ","} and i > 0:
            words = words[:i]
            break
    return words[-1] if words else name


def pool_windows(scores: torch.Tensor, document_index: torch.Tensor, n_documents: int, pooling: str) -> torch.Tensor:
    """Window scores (W, C) pooled per label into document scores (B, C); ``document_index`` (W,)
    names each window's document (every document 0..B-1 has at least one window).

    >>> pool_windows(torch.tensor([[1., 0.], [3., -2.], [5., 5.]]), torch.tensor([0, 0, 1]), 2, "max")
    tensor([[3., 0.],
            [5., 5.]])
    """
    index = document_index.unsqueeze(-1).expand_as(scores)
    pooled = scores.new_zeros(n_documents, scores.shape[-1])
    return pooled.scatter_reduce(0, index, scores, reduce="amax" if pooling == "max" else "mean", include_self=False)


def tree_fingerprint(hierarchy: LabelHierarchy) -> str:
    """SHA-256 of the tree's labels in score order and their parents: what the weights depend on."""
    import hashlib

    payload = json.dumps([hierarchy.labels, hierarchy.parent_index], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class HPTModel(nn.Module):
    """Hierarchy-aware prompt tuning (and, by configuration, its ablations and baselines).

    Args:
        config: what to build (see ``HPTConfig``).
        hierarchy: the label tree; its label order is the order of ``scores``' columns.
        mlm: a Hugging Face masked LM (``AutoModelForMaskedLM``).
        tokenizer: its tokenizer.
        initialise: set the new parameters from the backbone (label names, ``[MASK]``); off when
            weights are loaded right after.
    """

    def __init__(self, config: HPTConfig, hierarchy: LabelHierarchy, mlm: nn.Module, tokenizer, initialise: bool = True):
        super().__init__()
        self.config = config
        self.hierarchy = hierarchy
        self.tokenizer = tokenizer
        self.mlm = mlm
        if config.attention_dropout is not None:
            set_attention_dropout(mlm, config.attention_dropout)
        self.layout = build_layout(config, hierarchy.max_depth, tokenizer)
        check_input_length(self.layout, config.max_length, getattr(mlm.config, "max_position_embeddings", None),
                           hierarchy.max_depth)
        hidden = mlm.config.hidden_size
        n_labels = len(hierarchy.labels)
        word_embeddings = mlm.get_input_embeddings().weight

        by_depth = config.prompt == "depth" and config.hierarchy_constraint
        groups = [d - 1 for d in hierarchy.depths] if by_depth else [0] * n_labels
        self.register_buffer("label_groups", torch.tensor(groups, dtype=torch.long), persistent=False)
        self.n_groups = max(groups) + 1

        self.template = None
        if self.layout.n_template:
            std = getattr(mlm.config, "initializer_range", 0.02)
            self.template = nn.Parameter(torch.randn(self.layout.n_template, hidden) * std)
        self.pred_embedding = None
        if config.prompt == "depth":
            # [PRED] starts as [MASK]: the slot the backbone was pre-trained to fill.
            self.pred_embedding = nn.Parameter(word_embeddings[tokenizer.mask_token_id].detach().clone())

        self.label_words = self.label_bias = self.classifier = self.text_gate = None
        if config.scorer == "label_words":
            init = self._initial_label_words() if initialise else torch.zeros(n_labels, hidden)
            self.label_words = nn.Parameter(init)
            self.label_bias = nn.Parameter(torch.zeros(n_labels))
        elif config.scorer == "linear":
            self.dropout = nn.Dropout(config.dropout)
            self.classifier = nn.Linear(hidden, n_labels)
        else:
            ids, mask = self._verbalizer_ids()
            self.register_buffer("verbalizer_ids", ids, persistent=False)
            self.register_buffer("verbalizer_mask", mask, persistent=False)

        if config.text_residual_gate is not None:
            self.text_gate = nn.Parameter(torch.full((self.layout.n_pred,), float(config.text_residual_gate)))

        self.injection = None
        if config.injection != "none":
            edges = build_edge_index(hierarchy, config.connection, config.connection_seed)
            self.injection = HierarchyInjection(hidden, edges, n_labels, config.injection, config.graph_layers)

    # ---- initialisation -------------------------------------------------------------------------
    def _name_token_ids(self, name: str) -> list[int]:
        special = set(self.tokenizer.all_special_ids)
        return [t for t in self.tokenizer(name, add_special_tokens=False)["input_ids"] if t not in special]

    def _label_texts(self) -> list[str]:
        if self.config.label_word_init == "description":
            return [self.hierarchy.name_for_init(label) for label in self.hierarchy.labels]
        return [self.hierarchy.display_name(label) for label in self.hierarchy.labels]

    def _initial_label_words(self) -> torch.Tensor:
        if self.config.label_word_encoding == "encoder":
            return self._label_text_encodings()
        return self._label_name_embeddings()

    def _label_name_embeddings(self) -> torch.Tensor:
        """Mean word embedding of each label's readable name (or description), special tokens excluded. (C, d)"""
        weights = self.mlm.get_input_embeddings().weight.detach()
        rows = []
        for text in self._label_texts():
            ids = self._name_token_ids(text) or [self.tokenizer.mask_token_id]
            rows.append(weights[ids].mean(0))
        return torch.stack(rows).clone()

    @torch.no_grad()
    def _label_text_encodings(self, batch_size: int = 64) -> torch.Tensor:
        """Mean final hidden state of each label's text through the backbone, centred per group. (C, d)"""
        encoder = self.mlm.base_model
        was_training = encoder.training
        encoder.eval()  # no dropout: the initialisation is deterministic
        texts = self._label_texts()
        rows = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(texts[start : start + batch_size], padding=True, return_tensors="pt")
            batch = {k: v.to(self.mlm.device) for k, v in batch.items()}
            rows.append(masked_mean(encoder(**batch).last_hidden_state, batch["attention_mask"]))
        encoder.train(was_training)
        encodings = torch.cat(rows).float().cpu()
        # Siblings share most of their encoding (the topic of the whole tree); what is left after
        # removing the group mean is what tells one label from another.
        groups = self.label_groups.cpu()
        for group in groups.unique():
            members = groups == group
            if int(members.sum()) > 1:
                encodings[members] -= encodings[members].mean(0)
        return encodings.clone()

    def _verbalizer_ids(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Word-piece ids of each label's head word, padded: (C, S) ids and (C, S) mask."""
        pieces = [self._name_token_ids(head_word(self.hierarchy.display_name(l))) or [self.tokenizer.unk_token_id] for l in self.hierarchy.labels]
        width = max(len(p) for p in pieces)
        ids = torch.zeros(len(pieces), width, dtype=torch.long)
        mask = torch.zeros(len(pieces), width)
        for i, p in enumerate(pieces):
            ids[i, : len(p)] = torch.tensor(p)
            mask[i, : len(p)] = 1.0
        return ids, mask

    # ---- building blocks ------------------------------------------------------------------------
    def template_embeddings(self) -> torch.Tensor | None:
        """The template fed to the encoder: ``t' = t + g_t`` with injection, else ``t``. Shape (n_template, d)."""
        if self.template is None:
            return None
        if self.injection is None:
            return self.template
        if torch.is_grad_enabled():
            return self.injection(self.label_words, self.template)
        # Inference: the graph over every label (most of single-text latency at 5,000 labels) depends
        # on the parameters only; reuse it until one of them changes (in-place updates bump _version).
        parameters = (self.template, self.label_words, *self.injection.parameters())
        if any(p.is_inference() for p in parameters):  # made under torch.inference_mode: no version counter to key on
            return self.injection(self.label_words, self.template)
        # ... and the arithmetic: a template made under bf16 autocast must not serve a float32 call
        device_type = self.template.device.type
        autocast = (torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type))
        key = (autocast, *((p.data_ptr(), p._version) for p in parameters))
        cached = getattr(self, "_template_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, self.injection(self.label_words, self.template))
            self._template_cache = cached
        return cached[1]

    def encode(self, batch: dict[str, torch.Tensor], input_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Run the encoder on the templated batch. Returns hidden states (B, T, d)."""
        ids = batch["input_ids"] if input_ids is None else input_ids
        embeddings = self.mlm.get_input_embeddings()(ids)
        batch_size, _, hidden = embeddings.shape
        template = self.template_embeddings()
        if template is not None:
            index = batch["template_positions"].unsqueeze(-1).expand(-1, -1, hidden)
            embeddings = embeddings.scatter(1, index, template.to(embeddings.dtype).unsqueeze(0).expand(batch_size, -1, -1))
        if self.pred_embedding is not None:
            index = batch["pred_positions"].unsqueeze(-1).expand(-1, -1, hidden)
            pred = self.pred_embedding.to(embeddings.dtype).expand(batch_size, index.shape[1], hidden)
            embeddings = embeddings.scatter(1, index, pred)
        output = self.mlm.base_model(
            inputs_embeds=embeddings, attention_mask=batch["attention_mask"], token_type_ids=batch["token_type_ids"]
        )
        return output.last_hidden_state

    def score(self, hidden: torch.Tensor, pred_positions: torch.Tensor, text_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Label scores from the prediction slots.

        hidden (B, T, d), pred_positions (B, P), text_mask (B, T) bool (needed with a text residual)
        -> scores (B, C).
        """
        index = pred_positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        slots = hidden.gather(1, index)  # (B, P, d)
        if self.text_gate is not None:
            pooled = masked_mean(hidden, text_mask)  # (B, d)
            slots = slots + self.text_gate.to(hidden.dtype).view(1, -1, 1) * pooled.unsqueeze(1)
        if self.classifier is not None:
            return self.classifier(self.dropout(slots[:, 0]))
        if self.label_words is not None:
            if self.config.label_score_input == "mlm_transform":
                slots = head_transform(self.mlm)(slots)
            per_slot = slots @ self.label_words.to(slots.dtype).t()  # (B, P, C)
            # Each [PRED] scores only its own group's labels (eq. 3): take, for label c, slot groups[c].
            picked = per_slot.gather(1, self.label_groups.view(1, 1, -1).expand(slots.shape[0], 1, -1)).squeeze(1)
            return picked + self.label_bias
        transformed = head_transform(self.mlm)(slots)
        decoder = self.mlm.get_output_embeddings()
        weights = decoder.weight[self.verbalizer_ids]  # (C, S, d)
        logits = torch.einsum("bd,csd->bcs", transformed[:, 0], weights.to(transformed.dtype))
        if decoder.bias is not None:
            logits = logits + decoder.bias[self.verbalizer_ids]
        return (logits * self.verbalizer_mask).sum(-1) / self.verbalizer_mask.sum(-1)

    # ---- forward ---------------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor], labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Scores, and with ``labels`` (B, C) the losses.

        ``batch["score_offset"]`` (B, C), when present, is added to the scores before the loss: a
        stacking hook — scores of another scorer the model learns to complement (see
        ``hpt_core.classifier``; the paper has none).

        In training with an MLM weight, text tokens are masked (BERT's 80/10/10) in the same forward
        pass, and vocabulary logits are computed only at the masked positions.

        A batch with ``document_index`` (from ``collate_windows``) holds several windows per document:
        the window scores are pooled into one score per document, and the loss is taken on those.

        Returns:
            dict with ``scores`` (B, C); with labels also ``loss``, ``classification_loss``, ``mlm_loss``.
        """
        use_mlm = labels is not None and self.training and self.config.mlm_weight > 0
        input_ids, chosen = batch["input_ids"], None
        if use_mlm:
            input_ids, chosen = mask_tokens(
                batch["input_ids"], batch["text_mask"], self.tokenizer.mask_token_id,
                self.mlm.config.vocab_size, self.config.mlm_probability,
            )
        hidden = self.encode(batch, input_ids)
        scores = self.score(hidden, batch["pred_positions"], batch["text_mask"])
        if "document_index" in batch:  # whole documents: one row per window -> one per document
            n_documents = labels.shape[0] if labels is not None else int(batch["document_index"].max()) + 1
            scores = pool_windows(scores, batch["document_index"], n_documents, self.config.window_pooling)
        if "score_offset" in batch:
            scores = scores + batch["score_offset"].to(scores.dtype)
        out = {"scores": scores}
        if labels is None:
            return out
        if self.config.classification_loss == "zmlce":
            classification = zmlce_loss(scores, labels, self.label_groups, self.n_groups)
        else:
            classification = bce_loss(scores, labels)
        loss = classification
        if use_mlm:
            logits = mlm_head(self.mlm)(hidden[chosen])  # (M, V): only the masked positions
            mlm = F.cross_entropy(logits.float(), batch["input_ids"][chosen], reduction="sum") / max(int(chosen.sum()), 1)
            loss = loss + self.config.mlm_weight * mlm
            out["mlm_loss"] = mlm.detach()
        out["classification_loss"] = classification.detach()
        out["loss"] = loss
        return out

    # ---- convenience -----------------------------------------------------------------------------
    def tokenize(self, texts: list[str]) -> list[list[int]]:
        return tokenize_texts(self.tokenizer, texts, self.layout, self.config.max_length)

    def collate(self, token_ids: list[list[int]]) -> dict[str, torch.Tensor]:
        return collate(token_ids, self.layout, self.tokenizer)

    def tokenize_windows(self, texts: list[str]) -> tuple[list[list[list[int]]], list[int], list[int]]:
        """Each text as its windows (``config.max_windows`` at most), its whole length in tokens and
        how many of those the windows read (see ``template.tokenize_windows``)."""
        return tokenize_windows(self.tokenizer, texts, self.layout, self.config.max_length,
                                self.config.max_windows, self.config.window_overlap)

    def collate_documents(self, windows: list[list[list[int]]]) -> dict[str, torch.Tensor]:
        """A batch of documents given as windows: with one window each, exactly ``collate`` (no pooling)."""
        if self.config.max_windows == 1:
            return self.collate([doc[0] for doc in windows])
        return collate_windows(windows, self.layout, self.tokenizer)

    def new_parameters(self) -> list[nn.Parameter]:
        """Parameters HPT adds to the backbone (label words, template, graph, biases, heads).

        The MLM head counts as new only when the backbone shipped without one (the bundled MiniLM);
        a pretrained head (``bert-base-uncased``) trains with the encoder.
        """
        backbone_ids = {id(p) for p in self.mlm.base_model.parameters()}
        if getattr(self.mlm.config, "hpt_pretrained_mlm_head", False):
            backbone_ids |= {id(p) for p in mlm_head(self.mlm).parameters()}
        return [p for p in self.parameters() if id(p) not in backbone_ids]

    # ---- persistence -------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the model folder durably (:func:`hpt_core.durable.replace_folder`): a reader never sees
        a half-written folder, and a kill or a full disk mid-save leaves the previous folder loadable.
        (A trained classifier with the parts built on top: ``HTCClassifier.save_pretrained``.)

        Raises:
            HPTInputError: ``<folder>: no space left on device while saving the model folder`` (or
                ``permission denied``, ``read-only file system``); nothing of the new folder is left.
        """
        directory = Path(directory)
        with replace_folder(directory, "the model folder") as staging:
            self.write_files(staging)
        return directory

    def write_files(self, directory: Path) -> None:
        """The model's files — ``config.json``, ``hierarchy.json``, the tokenizer, ``model.safetensors`` —
        written into ``directory`` (a staging folder: the caller makes the write durable)."""
        # hierarchy.json must stay the tree these weights were trained on: a tree of the same size and
        # depth from elsewhere would load and answer with wrong names.
        config = {"hpt": self.config.to_dict(), "backbone_config": self.mlm.config.to_dict(),
                  "tree_fingerprint": tree_fingerprint(self.hierarchy)}
        (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2), encoding="utf-8")
        self.hierarchy.to_json(directory / HIERARCHY_NAME)
        self.tokenizer.save_pretrained(directory)
        save_model(self, str(directory / WEIGHTS_NAME))

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device | None = None) -> "HPTModel":
        """Rebuild a saved model from its folder alone (no hub, no pickles).

        Raises:
            HPTInputError: ``not a usable model folder: <why>`` when anything in the folder (config,
                hierarchy, tokenizer, weights) cannot rebuild the model it describes.
        """
        from safetensors import safe_open
        from transformers import AutoTokenizer

        from hpt_core.backbone import _quiet_transformers
        from hpt_core.inputs import parse_json, read_text

        directory = Path(directory)
        recover(directory)  # a save killed between its two renames left the previous folder as .<name>.old

        def unusable(why: str) -> HPTInputError:
            return HPTInputError(f"not a usable model folder: {' '.join(why.split())}", directory)

        if not directory.is_dir():
            raise unusable("no such folder" if not directory.exists() else "is a file, expected a folder")
        config_path = directory / CONFIG_NAME
        missing = [name for name in (CONFIG_NAME, HIERARCHY_NAME, WEIGHTS_NAME) if not (directory / name).is_file()]
        if missing:
            raise unusable(f"{', '.join(missing)} missing")
        # Every failure below is a property of the folder, never of the caller: the user gets
        # one line saying what is wrong with it, whatever the library underneath raised.
        try:
            saved = parse_json(read_text(config_path), CONFIG_NAME)
            if not isinstance(saved, dict) or not isinstance(saved.get("hpt"), dict) \
                    or not isinstance(saved.get("backbone_config"), dict):
                raise unusable(f"{CONFIG_NAME} must be an object with 'hpt' and 'backbone_config' objects")
            if not isinstance(saved["backbone_config"].get("model_type"), str):
                raise unusable(f"{CONFIG_NAME}: backbone_config has no model_type")
            config = HPTConfig.from_dict(saved["hpt"], CONFIG_NAME)
            hierarchy = LabelHierarchy.from_json(directory / HIERARCHY_NAME)
            if saved.get("tree_fingerprint") not in (None, tree_fingerprint(hierarchy)):
                raise unusable(f"{HIERARCHY_NAME} is not the label tree these weights were trained on "
                               f"(its labels or parents differ from those recorded in {CONFIG_NAME})")
            with _quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(str(directory))
            mlm = backbone_from_config(saved["backbone_config"])
            if tokenizer.mask_token_id is None or tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
                raise unusable("the tokenizer has no [MASK]/[CLS]/[SEP] tokens")
            rows = mlm.get_input_embeddings().weight.shape[0]
            if len(tokenizer) > rows:
                raise unusable(f"the tokenizer has {len(tokenizer)} tokens, the embeddings only {rows}")
            model = cls(config, hierarchy, mlm, tokenizer, initialise=False)
            expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
            with safe_open(str(directory / WEIGHTS_NAME), framework="pt") as weights:
                for key in weights.keys():
                    shape = tuple(weights.get_slice(key).get_shape())
                    if key in expected and expected[key] != shape:
                        raise unusable(
                            f"{WEIGHTS_NAME} holds {key} of shape {list(shape)}, but {CONFIG_NAME} and "
                            f"{HIERARCHY_NAME} describe {list(expected[key])} (files from different models?)"
                        )
            missing_keys, unexpected = load_model(model, str(directory / WEIGHTS_NAME), strict=False, device="cpu")
        except HPTInputError as err:
            if err.problem.startswith("not a usable model folder"):
                raise
            where = Path(err.file).name if err.file else ""
            where += f":{err.line}" if err.line is not None else ""
            raise unusable(f"{where}: {err.problem}" if where else err.problem) from None
        except Exception as err:  # tokenizer, transformers config and safetensors errors have many types
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise unusable(f"{type(err).__name__}: {first}" if first else type(err).__name__) from None
        if missing_keys or unexpected:
            raise unusable(f"weights do not match the config (missing {missing_keys[:3]}, unexpected {unexpected[:3]})")
        model.eval()
        return model.to(device) if device is not None else model


def build_model(config: HPTConfig, hierarchy: LabelHierarchy) -> HPTModel:
    """A fresh model: the backbone named in ``config`` plus newly initialised HPT parts."""
    mlm, tokenizer = load_backbone(config.backbone)
    return HPTModel(config, hierarchy, mlm, tokenizer)
