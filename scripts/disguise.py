"""How students disguise a copied notebook: their own names for the original's variables, new comments, changed
spacing. Used by scripts/build_copies.py (the copies among the midterm's samples) and by the similarity corpus
(benchmarks/similarity_corpus.py)."""

from __future__ import annotations

import ast
import io
import random
import re
import tokenize

COMMENTS = ["# step1", "# forward", "# 예측", "# 손실 계산", "# backward", "# update", "## step2", "# 미분",
            "# gradient", "# weights", "# 갱신", "# print", "# check", "# 확인", "# todo", "# 학습", "# loss",
            "# optimizer", "# 옵티마이저", "# 초기값"]


def renamed(code: str, mapping: dict[str, str]) -> str:
    """`code` with each name in `mapping` replaced where it is a name (not an attribute, not in a string)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError):
        return code
    lines = code.splitlines(keepends=True)
    edits = []
    previous = ""
    for token in tokens:
        if token.type == tokenize.NAME and token.string in mapping and previous != ".":
            edits.append((token.start, token.end, mapping[token.string]))
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            previous = token.string
    for (row, start), (_, end), new in reversed(edits):
        line = lines[row - 1]
        lines[row - 1] = line[:start] + new + line[end:]
    return "".join(lines)


def assigned_names(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def recommented(rng: random.Random, code: str) -> str:
    out = []
    for line in code.splitlines():
        line = re.sub(r"\s+#.*$", "", line) if "'" not in line and '"' not in line else line
        if line.lstrip().startswith("#"):
            continue
        if rng.random() < 0.3:
            out.append(" " * (len(line) - len(line.lstrip())) + rng.choice(COMMENTS))
        if "'" not in line and '"' not in line and rng.random() < 0.5:
            line = re.sub(r"\s*=\s*", " = ", line) if "==" not in line and "(" not in line else line
        out.append(line.rstrip() + (" " if rng.random() < 0.2 else ""))
        if rng.random() < 0.1:
            out.append("")
    return "\n".join(out)
