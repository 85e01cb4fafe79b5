"""What a submitted notebook's stored outputs show: fastai training tables and figures.

Used only when a part could not be re-executed (crawling fails offline, say),
and then only with the rubric's weight for unverified evidence.
"""

from __future__ import annotations

from html.parser import HTMLParser

MAX_HTML_CHARS = 200_000


class _TableParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.row: list[str] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[-1].append(self.row)
            self.row = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def training_epochs(outputs: list[dict]) -> list[dict[str, str]]:
    """The epoch rows of fastai training tables (`epoch`, `train_loss`, `valid_loss`, metrics…)."""
    rows: list[dict[str, str]] = []
    for output in outputs:
        html = output.get("data", {}).get("text/html", "") if isinstance(output.get("data"), dict) else ""
        html = "".join(html) if isinstance(html, list) else str(html)
        if "train_loss" not in html:
            continue
        parser = _TableParser()
        parser.feed(html[:MAX_HTML_CHARS])
        for table in parser.tables:
            if not table or "epoch" not in table[0] or "train_loss" not in table[0]:
                continue
            header = table[0]
            rows += [dict(zip(header, row)) for row in table[1:] if len(row) == len(header) and row[0].isdigit()]
    return rows


def figures(outputs: list[dict]) -> int:
    """How many images the outputs hold."""
    return sum(1 for output in outputs
               if isinstance(output.get("data"), dict) and "image/png" in output["data"])
