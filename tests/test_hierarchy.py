"""Tests for hpt_core.hierarchy: readers, validation errors, indexing, names, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hpt_core.errors import HPTInputError
from hpt_core.hierarchy import ROOT, LabelHierarchy, atomic_write_text, read_text

from helpers import shared, write  # noqa: E402


# An uneven tree: A has a grandchild, B is a leaf at depth 1, C's only child is a leaf.
UNEVEN_TSV = "Root\tA\tB\tC\nA\tA1\tA2\nC\tC1\nA1\tA1x\n"


@pytest.fixture
def uneven(tmp_path: Path) -> LabelHierarchy:
    return LabelHierarchy.from_tsv(write(tmp_path, "uneven.tsv", UNEVEN_TSV))


# --------------------------------------------------------------------------------------------
# Structure and indexing
# --------------------------------------------------------------------------------------------


def test_uneven_tree_structure(uneven: LabelHierarchy) -> None:
    h = uneven
    assert h.root == ROOT
    assert h.labels == ["A", "B", "C", "A1", "A2", "C1", "A1x"]
    assert h.label_to_index == {label: i for i, label in enumerate(h.labels)}
    assert h.depths == [1, 1, 1, 2, 2, 2, 3]
    assert h.max_depth == 3
    assert h.parent_index == [-1, -1, -1, 0, 0, 2, 3]
    assert [h.depth(x) for x in ("A", "A1x", ROOT)] == [1, 3, 0]
    assert h.labels_at_depth(2) == ["A1", "A2", "C1"]
    assert h.indices_at_depth(3) == [6]
    assert h.labels_at_depth(4) == []
    assert h.parent("A") is None and h.parent("A1x") == "A1"
    assert h.children(ROOT) == ["A", "B", "C"] and h.children("B") == []
    assert h.ancestors("A1x") == ["A1", "A"] and h.ancestors("B") == []
    assert h.path("A1x") == ["A", "A1", "A1x"] and h.path(ROOT) == []
    assert h.leaves() == ["B", "A2", "C1", "A1x"]
    assert h.is_leaf("B") and not h.is_leaf("A1")
    assert len(h) == 7 and "A1" in h and ROOT not in h and "Z" not in h
    assert list(h) == h.labels
    assert set(h.graph.edges) == {(ROOT, "A"), (ROOT, "B"), (ROOT, "C"), ("A", "A1"), ("A", "A2"), ("C", "C1"), ("A1", "A1x")}


def test_closure_and_multi_hot(uneven: LabelHierarchy) -> None:
    h = uneven
    assert h.with_ancestors(["A1x", "C1"]) == ["A", "C", "A1", "C1", "A1x"]
    assert h.with_ancestors([ROOT, "B", "B"]) == ["B"]
    m = h.multi_hot([["A1x"], ["B"], []])
    assert m.dtype == np.int8 and m.shape == (3, 7)
    assert m.tolist() == [[1, 0, 0, 1, 0, 0, 1], [0, 1, 0, 0, 0, 0, 0], [0] * 7]
    with pytest.raises(HPTInputError, match="unknown label 'Z'"):
        h.with_ancestors(["Z"])


def test_order_is_breadth_first_in_input_order() -> None:
    # Edges given deepest first: the index is still by depth, children in input order.
    h = LabelHierarchy([("B", "B1"), ("A", "A1"), ("Top", "B"), ("Top", "A")])
    assert h.root == "Top"
    assert h.labels == ["B", "A", "B1", "A1"]
    assert h.parent("B1") == "B" and h.parent("B") is None


def test_equality_covers_order_and_descriptions() -> None:
    a = LabelHierarchy([("R", "x"), ("R", "y")])
    assert a == LabelHierarchy([("R", "x"), ("R", "y")])
    assert a != LabelHierarchy([("R", "y"), ("R", "x")])
    assert a != LabelHierarchy([("R", "x"), ("R", "y")], {"x": "the x label"})
    assert a != LabelHierarchy([("Q", "x"), ("Q", "y")])


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


def test_display_names_of_dotted_paths() -> None:
    groups = ["comp.sys.mac.hardware", "comp.sys.ibm.pc.hardware", "comp.windows.x",
              "talk.politics.misc", "talk.religion.misc", "comp.os.ms-windows.misc", "sci.med"]
    h = LabelHierarchy.from_paths(groups, sep=".")
    names = {label: h.display_name(label) for label in h.labels}
    assert names["sci.med"] == "med"
    assert names["comp"] == "comp"
    assert names["comp.sys.mac.hardware"] == "mac hardware"  # "hardware" is ambiguous
    assert names["comp.sys.ibm.pc.hardware"] == "pc hardware"
    assert names["talk.politics.misc"] == "politics misc"  # "misc" is generic
    assert names["comp.os.ms-windows"] == "ms windows"  # '-' becomes a space
    assert names["comp.os.ms-windows.misc"] == "ms windows misc"
    assert names["comp.windows.x"] == "windows x"  # one letter says nothing


def test_display_names_of_slashed_and_plain_names() -> None:
    h = LabelHierarchy(
        [("Root", "CS"), ("CS", "CS/Machine learning"), ("Root", "Medical"), ("Medical", "HIV/AIDS"),
         ("Medical", "Sci > Bio_chem")],
        {"CS": "computer science"},
    )
    assert h.display_name("CS/Machine learning") == "Machine learning"
    assert h.display_name("HIV/AIDS") == "HIV/AIDS"  # a '/' inside a name is not a path
    assert h.display_name("Sci > Bio_chem") == "Bio chem"
    assert h.name_for_init("CS") == "computer science"
    assert h.name_for_init("Medical") == "Medical"


# --------------------------------------------------------------------------------------------
# Readers and round trips
# --------------------------------------------------------------------------------------------


def test_tsv_round_trip_and_atomic_write(tmp_path: Path, uneven: LabelHierarchy) -> None:
    out = tmp_path / "out" / "taxonomy.tsv"
    uneven.to_tsv(out)
    assert out.read_text() == UNEVEN_TSV.replace("A1\tA1x\n", "").replace("C\tC1\n", "C\tC1\nA1\tA1x\n")
    again = LabelHierarchy.from_tsv(out)
    assert again == uneven
    uneven.to_tsv(out)  # overwriting works and leaves no temp file behind
    assert sorted(p.name for p in out.parent.iterdir()) == ["taxonomy.tsv"]


def test_tsv_tolerates_blank_lines_crlf_bom_and_padding(tmp_path: Path) -> None:
    path = write(tmp_path, "t.tsv", b"\xef\xbb\xbfRoot\t A \tB\r\n\r\nA\tA1 \r\n")
    h = LabelHierarchy.from_tsv(path)
    assert h.labels == ["A", "B", "A1"]


def test_json_round_trip_keeps_descriptions(tmp_path: Path, uneven: LabelHierarchy) -> None:
    h = LabelHierarchy(uneven.edges(), {"A1x": "a deep label"})
    path = h.to_json(tmp_path / "h.json")
    d = json.loads(path.read_text())
    assert d["format"] == "hpt-hierarchy" and d["version"] == 1 and d["root"] == "Root"
    assert d["edges"][0] == ["Root", "A"]
    assert LabelHierarchy.from_json(path) == h
    assert LabelHierarchy.from_dict(h.to_dict()) == h
    assert LabelHierarchy.read(path).descriptions == {"A1x": "a deep label"}


def test_edge_csv(tmp_path: Path) -> None:
    with_header = write(tmp_path, "e.csv", 'parent,child\nTop,A\nTop,"B, b"\nA,A1\n')
    h = LabelHierarchy.from_edge_csv(with_header)
    assert h.root == "Top" and h.labels == ["A", "B, b", "A1"]
    bare = write(tmp_path, "bare.csv", "A,A1\n\nTop,A\n")
    assert LabelHierarchy.read(bare).labels == ["A", "A1"]


def test_paths_with_segments_and_dots(tmp_path: Path) -> None:
    slashed = write(tmp_path, "p.txt", "CS/Machine learning\nCS / Vision\nMedical\nCS/Machine learning/Deep\n")
    h = LabelHierarchy.read(slashed)  # .txt without tabs: paths, separator guessed as '/'
    assert h.labels == ["CS", "Medical", "Machine learning", "Vision", "Deep"]
    dotted = LabelHierarchy.from_paths(["comp.sys.mac.hardware", "comp.graphics", "sci"], sep=".")
    assert dotted.labels == ["comp", "sci", "comp.sys", "comp.graphics", "comp.sys.mac", "comp.sys.mac.hardware"]
    arrows = write(tmp_path, "a.txt", "A > B\nA > C\n")
    assert LabelHierarchy.read(arrows).labels == ["A", "B", "C"]


def test_read_picks_format_by_extension_and_content(tmp_path: Path) -> None:
    tsv_as_txt = write(tmp_path, "tax.txt", "Root\tA\tB\n")
    assert LabelHierarchy.read(tsv_as_txt).labels == ["A", "B"]
    taxnomy = write(tmp_path, "x.taxnomy", "Root\tA\n")
    assert LabelHierarchy.read(taxnomy).labels == ["A"]
    assert LabelHierarchy.read(write(tmp_path, "p.list", "a.b\n"), sep=".").labels == ["a", "a.b"]
    with pytest.raises(HPTInputError, match="unknown taxonomy format"):
        LabelHierarchy.read(taxnomy, format="xml")


# --------------------------------------------------------------------------------------------
# Errors: each names the file, the line and the problem, and writes nothing
# --------------------------------------------------------------------------------------------

BAD_TSV = [
    # (content, line, words in the message)
    ("Root\tA\tB\nA\tB\n", 2, "two parents"),
    ("Root\tA\nA\tA1\nA1\tA\n", 3, "two parents"),  # A under Root and A1
    ("Root\tA\nX\tY\nY\tX\n", 3, "cycle"),
    ("Root\tA\nA\tA\n", 2, "cycle"),
    ("Root\tA\tB\nC\tD\n", 2, "more than one root"),
    ("Root\tA\t\tB\n", 1, "empty label name"),
    ("Root\tA\tB\tA\n", 1, "listed twice"),
    ("Root\tA\nRoot\tA\n", 2, "appears twice"),
    ("Root\tA\nA\troot\n", 2, "named like the root"),
    ("Root\tA\nB\n", 2, "has no children"),
    ("Root\tA\n\tB\n", 2, "empty parent"),
]


@pytest.mark.parametrize("content,line,words", BAD_TSV)
def test_tsv_errors_name_file_line_and_problem(tmp_path: Path, content: str, line: int, words: str) -> None:
    path = write(tmp_path, "bad.tsv", content)
    with pytest.raises(HPTInputError) as info:
        LabelHierarchy.from_tsv(path)
    err = info.value
    assert (err.file, err.line) == (str(path), line)
    assert words in err.problem
    assert str(err).startswith(f"{path}:{line}: ")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    for name, reader in [("e.tsv", LabelHierarchy.from_tsv), ("e.csv", LabelHierarchy.from_edge_csv),
                         ("e.txt", LabelHierarchy.from_paths), ("e.json", LabelHierarchy.from_json)]:
        path = write(tmp_path, name, "\n\n")
        with pytest.raises(HPTInputError, match="empty") as info:
            reader(path)
        assert info.value.file == str(path)
    with pytest.raises(HPTInputError, match="file not found"):
        LabelHierarchy.read(tmp_path / "nope.tsv")


def test_bad_encoding_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "latin.tsv", "Root\tA\nA\tCaf\xe9\n".encode("latin-1"))
    with pytest.raises(HPTInputError) as info:
        LabelHierarchy.read(path)
    assert info.value.line == 2 and "not valid utf-8" in info.value.problem
    assert "0xe9" in str(info.value)


def test_csv_errors(tmp_path: Path) -> None:
    three = write(tmp_path, "three.csv", "parent,child\nRoot,A,extra\n")
    with pytest.raises(HPTInputError, match="expected 2 fields") as info:
        LabelHierarchy.from_edge_csv(three)
    assert info.value.line == 2
    roots = write(tmp_path, "roots.csv", "R,A\nS,B\n")
    with pytest.raises(HPTInputError, match="more than one root") as info:
        LabelHierarchy.from_edge_csv(roots)
    assert info.value.line == 2 and "'R' (line 1)" in info.value.problem
    cycle = write(tmp_path, "cycle.csv", "R,A\nB,C\nC,B\n")
    with pytest.raises(HPTInputError, match="cycle") as info:
        LabelHierarchy.from_edge_csv(cycle)
    assert info.value.line in (2, 3)


def test_paths_errors(tmp_path: Path) -> None:
    clash = write(tmp_path, "p.txt", "CS/Theory\nMath/Theory\n")
    with pytest.raises(HPTInputError, match="'Theory' appears under 'Math' here and under 'CS' on line 1") as info:
        LabelHierarchy.from_paths(clash)
    assert info.value.line == 2
    with pytest.raises(HPTInputError, match="empty label name") as info:
        LabelHierarchy.from_paths(["a..b"], sep=".")
    assert (info.value.file, info.value.line) == ("<lines>", 1)
    with pytest.raises(HPTInputError, match="named like the root"):
        LabelHierarchy.from_paths(["Root/A"])


def test_json_errors(tmp_path: Path) -> None:
    broken = write(tmp_path, "h.json", '{"format": "hpt-hierarchy",\n "version": 1,\n "edges": [[}\n')
    with pytest.raises(HPTInputError, match="invalid JSON") as info:
        LabelHierarchy.from_json(broken)
    assert info.value.line == 3
    other = write(tmp_path, "o.json", '{"format": "something"}')
    with pytest.raises(HPTInputError, match="not an hpt-hierarchy file"):
        LabelHierarchy.read(other)
    d = LabelHierarchy([("R", "a")]).to_dict()
    with pytest.raises(HPTInputError, match="unknown label 'zz'"):
        LabelHierarchy.from_dict({**d, "descriptions": {"zz": "?"}})
    with pytest.raises(HPTInputError, match="'root' says"):
        LabelHierarchy.from_dict({**d, "root": "Other"})


def test_constructor_errors_without_lines() -> None:
    with pytest.raises(HPTInputError, match="empty"):
        LabelHierarchy([])
    with pytest.raises(HPTInputError, match="tab or line break"):
        LabelHierarchy([("R", "a\tb")])
    with pytest.raises(HPTInputError, match="named like the root 'Top'"):
        LabelHierarchy([("Top", "a"), ("a", "top")])


def test_rejected_input_writes_nothing(tmp_path: Path) -> None:
    # Readers never write; writers are atomic: a failing write leaves the old file intact.
    target = atomic_write_text(tmp_path / "keep.tsv", "Root\tA\n")
    with pytest.raises(TypeError):
        atomic_write_text(target, None)  # type: ignore[arg-type]
    assert read_text(target) == "Root\tA\n"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.tsv"]


# --------------------------------------------------------------------------------------------
# Real taxonomies
# --------------------------------------------------------------------------------------------


def test_real_wos_taxonomy() -> None:
    h = LabelHierarchy.read(shared("raw/wos1k/wos.taxnomy"))
    assert len(h) == 141 and h.max_depth == 2
    assert h.labels_at_depth(1) == ["CS", "Medical", "Civil", "ECE", "biochemistry", "MAE", "Psychology"]
    assert len(h.labels_at_depth(2)) == 134
    assert h.parent("Depression") == "Psychology"
    assert LabelHierarchy.read(shared("benchmarks/wos1k/taxonomy.tsv")) == h


def test_real_20ng_taxonomy_is_uneven(tmp_path: Path) -> None:
    h = LabelHierarchy.read(shared("benchmarks/20ng/taxonomy.tsv"))
    assert len(h) == 38 and h.max_depth == 5 and len(h.leaves()) == 20
    assert sorted({h.depth(leaf) for leaf in h.leaves()}) == [2, 3, 4, 5]
    assert h.path("comp.sys.ibm.pc.hardware") == ["comp", "comp.sys", "comp.sys.ibm", "comp.sys.ibm.pc", "comp.sys.ibm.pc.hardware"]
    h.to_tsv(tmp_path / "t.tsv")
    assert LabelHierarchy.from_tsv(tmp_path / "t.tsv") == h  # lines may come in another order
    assert len({h.display_name(label) for label in h.labels}) == 38


# ---- hostile input (issue 9): each kind gets one input error naming the file and line ----


def test_a_taxonomy_from_a_pipe_is_read_once(tmp_path):
    import os

    read_end, write_end = os.pipe()
    os.write(write_end, b"A/A1\nB\n")
    os.close(write_end)
    try:
        h = LabelHierarchy.read(f"/dev/fd/{read_end}")
    finally:
        os.close(read_end)
    assert h.labels == ["A", "B", "A1"]


def test_a_hiagm_file_with_spaces_for_tabs_is_named_as_such(tmp_path):
    path = write(tmp_path, "tax.txt", "Root A B\nA A1 A2\n")
    with pytest.raises(HPTInputError, match=r"tax.txt:1: .*separated by spaces"):
        LabelHierarchy.read(path)


def test_a_folder_given_as_a_taxonomy_is_not_called_missing(tmp_path):
    with pytest.raises(HPTInputError, match="is a folder, expected a file"):
        LabelHierarchy.read(tmp_path)


@pytest.mark.parametrize("name, problem", [
    ("\u200b\u200c", "invisible"), ("A\x00B", "control character"), ("\ufeff", "invisible"),
])
def test_invisible_or_control_character_labels_are_rejected(tmp_path, name, problem):
    path = write(tmp_path, "tax.tsv", f"Root\tA\t{name}\n")
    with pytest.raises(HPTInputError, match=rf"tax.tsv:1: .*{problem}"):
        LabelHierarchy.read(path)


def test_deeply_nested_json_is_one_error(tmp_path):
    path = write(tmp_path, "tax.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(HPTInputError, match="nested too deeply"):
        LabelHierarchy.read(path)


def test_a_lone_surrogate_escape_in_json_is_rejected(tmp_path):
    path = write(tmp_path, "tax.json", '{"format": "hpt-hierarchy", "version": 1, "edges": [["Root", "\\udc80"]]}')
    with pytest.raises(HPTInputError, match="lone surrogate"):
        LabelHierarchy.read(path)


def test_edge_csv_takes_huge_fields_and_reports_an_unterminated_quote(tmp_path):
    huge = "x" * 200_000
    assert LabelHierarchy.read(write(tmp_path, "big.csv", f'Root,"{huge}"\n')).labels == [huge]
    with pytest.raises(HPTInputError, match=r"open.csv:2: .*never closed"):
        LabelHierarchy.read(write(tmp_path, "open.csv", 'Root,A\nA,"A1\nA,A2\n'))
