"""Synthetic inputs for the speed benchmarks: a large label tree, a corpus on it, a random backbone.

Nothing here is downloaded. Texts are real texts (e.g. WOS abstracts) with labels drawn at random
from the synthetic tree, so that their lengths — what speed depends on — are realistic.

    python benchmarks/synthetic.py tree --sizes 10,5,10,9 --out /tmp/t5k          # 5,060 labels, depth 4
    python benchmarks/synthetic.py corpus --taxonomy /tmp/t5k/taxonomy.tsv --texts ../shared/data/benchmarks/wos1k/train.jsonl --n 30000 --out /tmp/t5k/train.jsonl
    python benchmarks/synthetic.py random-corpus --taxonomy /tmp/t5k/taxonomy.tsv --n 30000 --out /tmp/t5k/random.jsonl
    python benchmarks/synthetic.py backbone --size bert-base --out /tmp/bert-base-random
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

WORDS = ("signal network protein market theory circuit policy enzyme model learning image climate soil "
         "law control memory graph optics energy cell court tax speech robot").split()


def write_tree(directory: str | Path, sizes: tuple[int, ...] = (10, 5, 10, 9), seed: int = 0) -> Path:
    """A HiAGM taxonomy with ``sizes[d]`` children per node at depth d (10·5·10·9: 5,060 labels, depth 4).
    Label names are distinct two-word phrases with a serial number, so label words start apart."""
    rng = random.Random(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lines, frontier, serial = [], ["Root"], 0
    for size in sizes:
        next_frontier = []
        for parent in frontier:
            children = []
            for _ in range(size):
                serial += 1
                children.append(f"{rng.choice(WORDS)} {rng.choice(WORDS)} {serial}")
            lines.append("\t".join([parent, *children]))
            next_frontier += children
        frontier = next_frontier
    path = directory / "taxonomy.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_corpus(taxonomy: str | Path, texts_from: str | Path, n: int, out: str | Path, seed: int = 0) -> Path:
    """``n`` documents: texts of ``texts_from`` (JSON Lines, cycled) each with one random leaf path."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hpt_core.hierarchy import LabelHierarchy

    hierarchy = LabelHierarchy.read(taxonomy)
    leaves = hierarchy.leaves()
    texts = [json.loads(line)["text"] for line in Path(texts_from).read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"text": texts[i % len(texts)], "labels": hierarchy.path(rng.choice(leaves))}) + "\n")
    return Path(out)


def write_random_texts_corpus(taxonomy: str | Path, n: int, out: str | Path, seed: int = 0,
                              median_words: int = 260, sigma: float = 0.5) -> Path:
    """``n`` documents of random English words with log-normal lengths (median ``median_words``
    words: about WOS abstracts' median in word pieces; 10 % above 1.9× the median), each with one
    random leaf path of ``taxonomy``. For machines without the benchmark corpora (a lent GPU)."""
    import math
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hpt_core.hierarchy import LabelHierarchy

    hierarchy = LabelHierarchy.read(taxonomy)
    leaves = hierarchy.leaves()
    rng = random.Random(seed)
    vocabulary = WORDS + ("the of and to in is that for with as on by this are from an be we which results "
                          "method data paper study based using analysis system proposed show new").split()
    with open(out, "w", encoding="utf-8") as f:
        for _ in range(n):
            length = max(5, int(median_words * math.exp(rng.gauss(0.0, sigma))))
            text = " ".join(rng.choice(vocabulary) for _ in range(length))
            f.write(json.dumps({"text": text, "labels": hierarchy.path(rng.choice(leaves))}) + "\n")
    return Path(out)


def write_random_backbone(directory: str | Path, size: str = "bert-base", seed: int = 0) -> Path:
    """A masked LM with random weights: ``bert-base`` (768 wide, 12 layers; the paper's size) or
    ``minilm`` (384 wide, 6 layers), with the bundled MiniLM's uncased BERT tokenizer (the same
    30,522-word vocabulary as bert-base-uncased)."""
    import sys

    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hpt_core.backbone import resolve_backbone

    shapes = {"bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
              "minilm": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)}
    tokenizer = AutoTokenizer.from_pretrained(resolve_backbone("minilm"))
    torch.manual_seed(seed)
    model = BertForMaskedLM(BertConfig(vocab_size=tokenizer.vocab_size, max_position_embeddings=512, **shapes[size]))
    directory = Path(directory)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("tree")
    p.add_argument("--sizes", default="10,5,10,9")
    p.add_argument("--out", required=True)
    p = sub.add_parser("corpus")
    p.add_argument("--taxonomy", required=True)
    p.add_argument("--texts", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p = sub.add_parser("random-corpus")
    p.add_argument("--taxonomy", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p = sub.add_parser("backbone")
    p.add_argument("--size", choices=["bert-base", "minilm"], default="bert-base")
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.what == "tree":
        print(write_tree(args.out, tuple(int(s) for s in args.sizes.split(","))))
    elif args.what == "corpus":
        print(write_corpus(args.taxonomy, args.texts, args.n, args.out, args.seed))
    elif args.what == "random-corpus":
        print(write_random_texts_corpus(args.taxonomy, args.n, args.out, args.seed))
    else:
        print(write_random_backbone(args.out, args.size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
