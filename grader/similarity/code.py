"""Token fingerprints of a student's code, robust to renamed variables, changed comments and whitespace, and
reordered or merged cells.

The code is tokenized with Python's own tokenizer; names become one placeholder (except attribute names, keyword
arguments and builtins, which renaming does not touch), strings another, comments and layout are dropped. Every
run of K tokens is hashed and the fingerprints are chosen by winnowing: the minimum hash of each window of W
consecutive hashes (Schleimer, Wilkerson and Aiken, "Winnowing: local algorithms for document fingerprinting",
SIGMOD 2003, the algorithm behind MOSS). A fingerprint is a set member, so the order of cells does not matter, and
any shared run of at least W + K - 1 tokens is guaranteed to yield a shared fingerprint.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import keyword
import re
import tokenize
from dataclasses import dataclass

K = 12  # tokens per hashed run: shorter runs are common to every solution (`optimizer.step()`)
W = 6  # winnowing window: a shared run of W + K - 1 = 17 tokens always shows

_BUILTINS = frozenset(dir(builtins))
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
            tokenize.ENDMARKER}
_FALLBACK_TOKEN = re.compile(r"[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*|\d[\w.]*|\"[^\"\n]*\"|'[^'\n]*'|\S")


# How alike code is made before it is fingerprinted; each level is compared apart and the one that matches most
# counts. "structure": the student's names and strings alike (a renamed copy that also rewrote its messages);
# "names": names alike, strings as written (a renamed copy keeps its keywords, paths and printed labels);
# "exact": as written, comments and layout still dropped.
LEVELS = ("structure", "names", "exact")


@dataclass(frozen=True)
class Token:
    forms: tuple[str, str, str]  # the token at each of LEVELS
    cell: int  # 0-based index of the notebook cell
    line: int  # 1-based line in that cell


@dataclass(frozen=True)
class Fingerprint:
    hash: int
    lines: tuple[tuple[int, int, int], ...]  # (cell, first line, last line) of each cell the run touches


def cell_tokens(source: str, cell: int) -> list[Token]:
    """The normalised tokens of one code cell; IPython magics and shell lines left out."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    text = "\n".join(lines) + "\n"
    try:
        raw = [(tok.type, tok.string, tok.start[0]) for tok in tokenize.generate_tokens(io.StringIO(text).readline)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        raw = _fallback_tokens(lines)
    tokens: list[Token] = []
    for index, (kind, string, line) in enumerate(raw):
        if kind in _SKIPPED:
            continue
        normalised = _normalised(kind, string, raw, index)
        named = string if normalised == "S" else normalised
        tokens.append(Token((normalised, named, string), cell, line))
    return tokens


def _normalised(kind: int, string: str, raw: list[tuple[int, str, int]], index: int) -> str:
    if kind == tokenize.STRING or kind in _FSTRING_TYPES:
        return "S"
    if kind != tokenize.NAME:
        return string
    if keyword.iskeyword(string) or string in _BUILTINS:
        return string
    before = _neighbour(raw, index, -1)
    after = _neighbour(raw, index, 1)
    if before == "." or after == "=" and _inside_call(raw, index):
        return string  # an attribute or a keyword argument: the library's name, not the student's
    return "V"


_FSTRING_TYPES = {getattr(tokenize, name) for name in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
                  if hasattr(tokenize, name)}


def _neighbour(raw: list[tuple[int, str, int]], index: int, step: int) -> str:
    """The next significant token's text before (step -1) or after (step 1) `index`."""
    at = index + step
    while 0 <= at < len(raw):
        if raw[at][0] not in _SKIPPED:
            return raw[at][1]
        at += step
    return ""


def _inside_call(raw: list[tuple[int, str, int]], index: int) -> bool:
    depth = 0
    for kind, string, _ in reversed(raw[:index]):
        if string in ")]}":
            depth += 1
        elif string in "([{":
            if depth == 0:
                return string == "("
            depth -= 1
        elif kind == tokenize.NEWLINE:
            return False
    return False


def _fallback_tokens(lines: list[str]) -> list[tuple[int, str, int]]:
    """Code Python cannot tokenize (an unclosed bracket, a stray indent): words and symbols, line by line."""
    raw: list[tuple[int, str, int]] = []
    for number, line in enumerate(lines, start=1):
        code = line.split("#", 1)[0]
        for match in _FALLBACK_TOKEN.finditer(code):
            text = match.group()
            kind = (tokenize.STRING if text[0] in "\"'" else tokenize.NUMBER if text[0].isdigit() else
                    tokenize.NAME if text[0].isalpha() or text[0] == "_" or ord(text[0]) > 127 else tokenize.OP)
            raw.append((kind, text, number))
    return raw


def fingerprints(tokens: list[Token], level: int = 0) -> list[Fingerprint]:
    """The winnowed fingerprints of a cell's tokens at one of LEVELS."""
    if len(tokens) < K:
        return []
    hashes = [_hash(tokens[start:start + K], level) for start in range(len(tokens) - K + 1)]
    chosen: list[Fingerprint] = []
    last = -1
    for window in range(max(1, len(hashes) - W + 1)):
        span = hashes[window:window + W]
        low = min(span)
        at = window + max(offset for offset, value in enumerate(span) if value == low)  # the rightmost minimum
        if at != last:
            chosen.append(Fingerprint(hashes[at], _lines(tokens[at:at + K])))
            last = at
    return chosen


def _lines(run: list[Token]) -> tuple[tuple[int, int, int], ...]:
    spans: dict[int, tuple[int, int]] = {}
    for token in run:
        first, final = spans.get(token.cell, (token.line, token.line))
        spans[token.cell] = (min(first, token.line), max(final, token.line))
    return tuple((cell, first, final) for cell, (first, final) in spans.items())


def run_hashes(tokens: list[Token], level: int = 0) -> set[int]:
    """Every K-token run's hash: what a template contributes, all of which is removed from the students'."""
    return {_hash(tokens[start:start + K], level) for start in range(len(tokens) - K + 1)}


def _hash(run: list[Token], level: int) -> int:
    digest = hashlib.blake2b("\x1f".join(token.forms[level] for token in run).encode(), digest_size=8,
                             person=LEVELS[level].encode()).digest()
    return int.from_bytes(digest, "big")
