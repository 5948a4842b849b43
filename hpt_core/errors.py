"""The one error type users see for bad input: it names the file, the line and the problem."""

from __future__ import annotations

from pathlib import Path


class HPTInputError(ValueError):
    """Bad user input (taxonomy, corpus, run folder, option).

    ``str(err)`` reads ``file:line: problem`` (file and line omitted when unknown), so the CLI
    can print it as its one-line reason and the app can show it inline.
    """

    def __init__(self, problem: str, file: str | Path | None = None, line: int | None = None):
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.line = line
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
        elif self.line is not None:
            where = f"line {self.line}"
        return f"{where}: {self.problem}" if where else self.problem
