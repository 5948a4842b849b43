"""The package's shape: no import cycles (issue 20)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "hpt_core"


def import_graph(package: Path = PACKAGE) -> nx.DiGraph:
    """Module → the package modules it imports, at the top or inside a function alike (a lazy
    import is still a dependency: it only hides the cycle until the call)."""
    modules = {}
    for path in package.rglob("*.py"):
        name = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # "from hpt_core import runs" names a module; "from hpt_core.x import f" the module x
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph.add_edges_from((name, t) for t in targets if t in modules and t != name)
    return graph


def test_the_package_has_no_import_cycle():
    cycles = sorted(sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1)
    assert not cycles, f"import cycles: {cycles}"


def test_the_walk_sees_lazy_imports_and_would_report_a_cycle(tmp_path):
    """The check above can fail: a cycle hidden in a function-level import is found."""
    package = tmp_path / "hpt_core"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from hpt_core.b import g\n")
    (package / "b.py").write_text("def g():\n    from hpt_core import a\n")
    components = [c for c in nx.strongly_connected_components(import_graph(package)) if len(c) > 1]
    assert components == [{"hpt_core.a", "hpt_core.b"}]


def test_the_papers_model_reaches_nothing_built_on_top_of_it():
    """``hpt_core.model`` is the paper: neither it nor anything it imports reaches the lexical channel,
    the classical blend, their frozen encoders or the classifier that composes them, and its text
    never names them (issue 20: a reader checks it against the paper alone)."""
    reached = nx.descendants(import_graph(), "hpt_core.model")
    on_top = {"hpt_core.classifier", "hpt_core.lexical", "hpt_core.blend", "hpt_core.sentence",
              "hpt_core.linear_fit", "hpt_core.tfidf"}
    assert not reached & on_top, sorted(reached & on_top)
    text = (PACKAGE / "model.py").read_text(encoding="utf-8").lower()
    assert "lexical" not in text and "blend" not in text
