"""What a submitted notebook's stored outputs show: fastai training tables, figures, the image classes and
counts students print, DataLoaders' classes and split sizes.

Used only when a part could not be re-executed (crawling fails offline, say),
and then only with the rubric's weight for unverified evidence.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import PurePosixPath

from grader.notebook.printed import MAX_OUTPUT_CHARS, output_text

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


def training_epochs(outputs: Iterable[dict]) -> list[dict[str, str]]:
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


def figures(outputs: Iterable[dict]) -> int:
    """How many images the outputs hold."""
    return sum(1 for output in outputs
               if isinstance(output.get("data"), dict) and "image/png" in output["data"])


# What students print of their image folders and DataLoaders. The text is untrusted (a student can edit a stored
# output), so it is read with regular expressions, never evaluated. Their quantifiers are possessive but for the
# repeated items of a list: Python 3.11.2 keeps what a failed repetition of a possessive group consumed (a list
# cut short, `[Path('a.jpg'),...]`, would not match); items start with a fixed token, so giving one back is cheap.
_QUOTED = r"""(?:'[^'\\\n]{1,200}+'|"[^"\\\n]{1,200}+")"""
# A list of strings printed whole: `['cat', 'dog']`, fastai's `(#2) ['cat','dog']`. A list cut short (`,...]`)
# does not match.
_NAME_LIST = re.compile(r"(?:\(#\d++\)[ \t]*+)?\[\s*+(" + _QUOTED + r"(?:\s*+,\s*+" + _QUOTED + r")*)\s*+,?\s*+\]")
# A dict of counts: `{'cat': 40, 'dog': 38}`, also inside `Counter({...})`.
_COUNT_PAIR = _QUOTED + r"\s*+:\s*+\d++"
_COUNT_DICT = re.compile(r"\{\s*+(" + _COUNT_PAIR + r"(?:\s*+,\s*+" + _COUNT_PAIR + r")*)\s*+,?\s*+\}")
_QUOTED_COUNT = re.compile(r"(" + _QUOTED + r")\s*+:\s*+(\d++)")
# A line of a name and a count: `cat 40`, `cat: 40` (`print(keyword, len(files))`), pandas' value_counts.
_COUNT_LINE = re.compile(r"^[ \t]*+([^\W\d_][\w-]{0,99}+)(?:[ \t]*+[:=][ \t]*+|[ \t]++)(\d++)[ \t]*+$", re.MULTILINE)
# A list of paths: `get_image_files(path)`, `path.ls()`; whole (`[PosixPath('images/cat/001.jpg'), …]`) or cut
# short by older fastai (`(#78) [Path('images/cat/001.jpg'),...]`: group 2 is then not "]").
_PATH = r"(?:Posix|Windows)?Path\('[^'\n]{1,500}+'\)"
_PATH_LIST = re.compile(r"\[\s*+(" + _PATH + r"(?:\s*+,\s*+" + _PATH + r")*)\s*+(\]|,\s*+\.\.\.)")
_PATH_ARGUMENT = re.compile(r"Path\('([^'\n]{1,500}+)'\)")
# Two numbers alone on a line: `(62, 16)` from `len(dls.train_ds), len(dls.valid_ds)`, or `62 16` from print().
_PAIR_LINE = re.compile(r"^[ \t]*+(?:\([ \t]*+(\d++)[ \t]*+,[ \t]*+(\d++)[ \t]*+\)|(\d++)(?:[ \t]*+,[ \t]*+|[ \t]++)(\d++))"
                        r"[ \t]*+$", re.MULTILINE)
_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"})


def printed_vocab(outputs: Iterable[dict]) -> list[str] | None:
    """The last list of names printed whole: what `dls.vocab` prints. A printed list cannot say whose it is, so
    the caller reads it where only the DataLoaders' classes are likely to be printed."""
    lists = [names for text in _printed_texts(outputs) for names in _name_lists(text)]
    return lists[-1] if lists else None


def class_counts(outputs: Iterable[dict]) -> dict[str, int]:
    """Images per class: where a count is printed beside its name (`{'cat': 40, 'dog': 38}`, `cat 40`), the last
    count printed for it, as the notebook ended; else the most image files of its folder one list of paths shows
    whole (at least that many exist: a slice shows fewer). A bare number (`print(len(files))`) names no class, and
    a list cut short (`,...]`) shows only its first files: neither is read."""
    texts = _printed_texts(outputs)
    listed: dict[str, int] = {}
    for text in texts:
        for match in _PATH_LIST.finditer(text):
            if match.group(2) == "]":
                for folder, n in Counter(_image_folders(match.group(1))).items():
                    listed[folder] = max(n, listed.get(folder, 0))
    return {**listed, **dict(pair for text in texts for pair in _counts(text))}


def class_names(outputs: Iterable[dict]) -> list[str]:
    """Every class name the outputs show, in the order first seen: lists of names printed whole (`dls.vocab`, the
    keywords, `os.listdir(path)`), names printed with a count, and the folders of printed paths (the folder of an
    image file, or a folder itself, as `path.ls()` lists them)."""
    names: list[str] = []
    for text in _printed_texts(outputs):
        names += [name for found in _name_lists(text) for name in found]
        names += [name for name, _ in _counts(text)]
        names += _path_folders(text)
    return list(dict.fromkeys(names))


def split_sizes(outputs: Iterable[dict]) -> tuple[int, int] | None:
    """(training, validation) images, from the last line that holds two numbers alone: what
    `len(dls.train_ds), len(dls.valid_ds)` prints."""
    pairs = [(int(a or c), int(b or d)) for text in _printed_texts(outputs) for a, b, c, d in _PAIR_LINE.findall(text)]
    return pairs[-1] if pairs else None


def _printed_texts(outputs: Iterable[dict]) -> list[str]:
    """What each output printed or showed as text; stderr (warnings, progress logs) is no answer."""
    return [output_text(output)[:MAX_OUTPUT_CHARS] for output in outputs if output.get("name") != "stderr"]


def _counts(text: str) -> list[tuple[str, int]]:
    pairs = [(quoted[1:-1], int(n)) for match in _COUNT_DICT.finditer(text)
             for quoted, n in _QUOTED_COUNT.findall(match.group(1))]
    pairs += [(name, int(n)) for name, n in _COUNT_LINE.findall(text)]
    return [(name, n) for name, n in pairs if _is_class_name(name)]


def _name_lists(text: str) -> list[list[str]]:
    lists = [[quoted[1:-1] for quoted in re.findall(_QUOTED, match.group(1))] for match in _NAME_LIST.finditer(text)]
    return [names for names in lists if all(_is_class_name(name) for name in names)]


def _path_folders(text: str) -> list[str]:
    """The folders of the image files listed, and the folders listed themselves (`path.ls()`)."""
    folders = []
    for match in _PATH_LIST.finditer(text):
        folders += _image_folders(match.group(1))
        folders += [parts[-1] for parts in _path_parts(match.group(1))
                    if not PurePosixPath(parts[-1]).suffix and _is_class_name(parts[-1])]
    return folders


def _image_folders(listed: str) -> list[str]:
    """The folder of each image file in a list of paths, once per file."""
    return [parts[-2] for parts in _path_parts(listed)
            if len(parts) >= 2 and PurePosixPath(parts[-1]).suffix.lower() in _IMAGE_SUFFIXES
            and _is_class_name(parts[-2])]


def _path_parts(listed: str) -> list[list[str]]:
    return [parts for path in _PATH_ARGUMENT.findall(listed) if (parts := [p for p in re.split(r"[\\/]+", path) if p])]


def _is_class_name(name: str) -> bool:
    """Not a hidden folder (`.ipynb_checkpoints`), a URL or a path: crawlers print lists of those too."""
    return bool(name.strip()) and not name.startswith(".") and not any(c in name for c in "/\\")
