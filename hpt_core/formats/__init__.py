"""Corpus formats: one module each, every reader yielding :class:`hpt_core.records.Record`
objects (text, label names or paths, file and line) that ``hpt_core.records`` checks against the
tree. ``hpt_core.data.read_corpus`` picks the reader (``detect_format``).

* ``jsonl``: ``{"text": str, "labels": [names]}`` a line (and the HPT/HiAGM spellings);
* ``table``: CSV / TSV with a text column and a labels, level or path column;
* ``wos``: the Web of Science ``Data.txt`` / ``Data.xlsx`` as published;
* ``newsgroups``: the 20 Newsgroups bydate archive or folder.
"""
