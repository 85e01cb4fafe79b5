from __future__ import annotations

import pytest

from grader.submission import discover, parse_identity


@pytest.mark.parametrize("stem, expected", [
    ("홍길동(2022001)", ("홍길동", "2022001")),
    ("홍길동 (2022001)", ("홍길동", "2022001")),
    ("홍길동（2022001）", ("홍길동", "2022001")),
    ("홍길동(2022001) (1)", ("홍길동", "2022001")),
    ("Kim Minjun(A12345)", ("Kim Minjun", "A12345")),
    ("midterm_202212345", ("midterm", "202212345")),
    ("final", (None, None)),
    ("\u1112\u1169\u11bc\u1100\u1175\u11af\u1103\u1169\u11bc(2022001)", ("홍길동", "2022001")),  # macOS NFD
])
def test_identity_from_the_file_name(stem, expected):
    assert parse_identity(stem) == expected


def test_discover_files_folders_and_problems(tmp_path):
    (tmp_path / "김민준(2022001).ipynb").write_text("{}")
    (tmp_path / "README.md").write_text("samples")
    (tmp_path / ".DS_Store").write_text("")
    folder = tmp_path / "신유나(2022012)"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "a.jpg").write_bytes(b"jpg")
    (folder / "old.ipynb").write_text("{}")
    (folder / "new.ipynb").write_text("{}")
    import os
    os.utime(folder / "old.ipynb", (1, 1))
    (tmp_path / "김민준(2022001) (1).ipynb").write_text("{}")
    (tmp_path / "final.ipynb").write_text("{}")
    (tmp_path / "empty(2022099)").mkdir()

    found = {s.path.name: s for s in discover(tmp_path)}
    assert sorted(found) == ["empty(2022099)", "final.ipynb", "김민준(2022001) (1).ipynb", "김민준(2022001).ipynb", "신유나(2022012)"]
    assert found["김민준(2022001) (1).ipynb"].key == "2022001"
    assert found["김민준(2022001).ipynb"].key == "2022001~2"
    assert found["김민준(2022001).ipynb"].flags == ("duplicate-id",)
    assert found["final.ipynb"].key == "final" and found["final.ipynb"].flags == ("no-student-id",)
    yuna = found["신유나(2022012)"]
    assert (yuna.key, yuna.name, yuna.notebook.name, yuna.flags) == ("2022012", "신유나", "new.ipynb", ("several-notebooks",))
    assert found["empty(2022099)"].notebook is None


def test_content_hash_covers_the_data_in_a_folder(tmp_path):
    folder = tmp_path / "a(1)"
    folder.mkdir()
    (folder / "nb.ipynb").write_text("{}")
    (submission,) = discover(tmp_path)
    before = submission.content_hash
    (folder / "image.jpg").write_bytes(b"new")
    (again,) = discover(tmp_path)
    assert again.content_hash != before
