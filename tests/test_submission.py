from __future__ import annotations

import os

import pytest

from grader.submission import discover, parse_identity


@pytest.mark.parametrize("stem, expected", [
    ("홍길동(2022001)", ("홍길동", "2022001")),
    ("홍길동 (2022001)", ("홍길동", "2022001")),
    ("홍길동（2022001）", ("홍길동", "2022001")),
    ("Kim Minjun(A12345)", ("Kim Minjun", "A12345")),
    ("midterm_202212345", ("midterm", "202212345")),
    ("final", (None, None)),
    ("\u1112\u1169\u11bc\u1100\u1175\u11af\u1103\u1169\u11bc(2022001)", ("홍길동", "2022001")),  # macOS NFD
    ("홍길동(2022001)-1", ("홍길동", "2022001")),
    ("홍길동(1)", ("홍길동", "1")),  # nothing else there: a short number is the id
])
def test_identity_from_the_file_name(stem, expected):
    identity = parse_identity(stem)
    assert (identity.name, identity.student_id) == expected
    assert (identity.passed_over, identity.also_like_ids) == ((), ())


@pytest.mark.parametrize("stem, name, student_id, passed_over, also_like_ids", [
    ("김민준(2반)(2022001)", "김민준(2반)", "2022001", ("(2반)",), ()),
    ("Kim (Minjun) (2022001)", "Kim (Minjun)", "2022001", ("(Minjun)",), ()),
    ("홍길동(2022001) (1)", "홍길동", "2022001", ("(1)",), ()),  # a browser's second download
    ("홍길동(2022001)(v2)", "홍길동", "2022001", ("(v2)",), ()),
    ("김민준(3)(2022001)", "김민준(3)", "2022001", ("(3)",), ()),
    ("홍길동（2반）（2022001） (2)", "홍길동（2반）", "2022001", ("（2반）", "(2)"), ()),
    ("midterm_202212345 (1)", "midterm", "202212345", ("(1)",), ()),
    ("Kim(A12345)(1)", "Kim", "A12345", ("(1)",), ()),
    ("홍길동(2022001)(2022002)", "홍길동(2022001)", "2022002", ("(2022001)",), ("(2022001)",)),
    ("Kim(A12345)(B2)", "Kim(A12345)", "B2", ("(A12345)",), ("(A12345)",)),
    ("홍길동(1)(2)", "홍길동(1)", "2", ("(1)",), ("(1)",)),
    ("홍길동(중간고사)", None, None, ("(중간고사)",), ()),
])
def test_the_id_is_the_last_group_of_digits_and_the_rest_is_said(stem, name, student_id, passed_over, also_like_ids):
    identity = parse_identity(stem)
    assert (identity.name, identity.student_id, identity.passed_over, identity.also_like_ids) == (
        name, student_id, passed_over, also_like_ids)


def test_what_was_not_taken_as_the_id_is_noted_and_a_guess_flagged(tmp_path):
    for name in ("김민준(2반)(2022001).ipynb", "홍길동(2022003) (1).ipynb", "이서연(2022002)(2022012).ipynb",
                 "박지호(2022004)-1.ipynb"):
        (tmp_path / name).write_text("{}")
    found = {s.path.name: (s.key, s.name, s.flags, s.notes) for s in discover(tmp_path, "*.ipynb")}
    assert found == {
        "김민준(2반)(2022001).ipynb": ("2022001", "김민준(2반)", (), (
            "student id '2022001' read from '김민준(2반)(2022001).ipynb'; not taken as the id: (2반)",)),
        "홍길동(2022003) (1).ipynb": ("2022003", "홍길동", (), (
            "student id '2022003' read from '홍길동(2022003) (1).ipynb'; not taken as the id: (1)",)),
        "이서연(2022002)(2022012).ipynb": ("2022012", "이서연(2022002)", ("ambiguous-student-id",), (
            "'이서연(2022002)(2022012).ipynb' holds several parts that look like a student id: '2022012', the last, "
            "was taken; not (2022002). Check whose submission it is",)),
        "박지호(2022004)-1.ipynb": ("2022004", "박지호", (), ()),
    }


def test_discover_files_folders_and_problems(tmp_path):
    (tmp_path / "김민준(2022001).ipynb").write_text("{}")
    (tmp_path / "README.md").write_text("samples")
    (tmp_path / ".DS_Store").write_text("")
    folder = tmp_path / "신유나(2022012)"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "a.jpg").write_bytes(b"jpg")
    (folder / "old.ipynb").write_text("{}")
    (folder / "new.ipynb").write_text("{}")
    os.utime(folder / "old.ipynb", (1, 1))
    (tmp_path / "김민준(2022001) (1).ipynb").write_text("{}")
    (tmp_path / "final.ipynb").write_text("{}")
    (tmp_path / "###.ipynb").write_text("{}")
    (tmp_path / "empty(2022099)").mkdir()

    found = {s.path.name: s for s in discover(tmp_path, "*.ipynb")}
    assert sorted(found) == ["###.ipynb", "empty(2022099)", "final.ipynb", "김민준(2022001) (1).ipynb", "김민준(2022001).ipynb", "신유나(2022012)"]
    assert found["김민준(2022001) (1).ipynb"].key == "2022001"
    assert found["김민준(2022001).ipynb"].key == "2022001~2"
    assert found["김민준(2022001).ipynb"].flags == ("duplicate-id",)
    assert found["김민준(2022001).ipynb"].notes == (
        "another submission already uses the id '2022001'; this one is graded as '2022001~2'",)
    final = found["final.ipynb"]
    assert (final.key, final.name, final.student_id, final.flags, final.notes) == (
        "final", None, None, ("no-student-id",), ("no student id in the name 'final.ipynb'; graded as 'final'",))
    symbols = found["###.ipynb"]
    assert (symbols.key, symbols.flags, symbols.notes) == (
        "submission", ("no-student-id",), ("no student id in the name '###.ipynb'; graded as 'submission'",))
    yuna = found["신유나(2022012)"]
    assert (yuna.key, yuna.name, yuna.notebook.name, yuna.flags) == ("2022012", "신유나", "new.ipynb", ("several-notebooks",))
    assert yuna.notes == ("2 notebooks in the folder match '*.ipynb'; graded the newest, new.ipynb",)
    assert found["empty(2022099)"].notebook is None


def test_content_hash_covers_the_data_in_a_folder(tmp_path):
    folder = tmp_path / "a(1)"
    folder.mkdir()
    (folder / "nb.ipynb").write_text("{}")
    (submission,) = discover(tmp_path, "*.ipynb")
    before = submission.content_hash
    (folder / "image.jpg").write_bytes(b"new")
    (again,) = discover(tmp_path, "*.ipynb")
    assert again.content_hash != before


def test_content_hash_never_follows_links(tmp_path):
    folder = tmp_path / "a(1)"
    folder.mkdir()
    (folder / "nb.ipynb").write_text("{}")
    (folder / "endless").symlink_to("/dev/zero")  # would never finish if followed
    (submission,) = discover(tmp_path, "*.ipynb")
    before = submission.content_hash
    (folder / "endless").unlink()
    (folder / "endless").symlink_to("/dev/null")
    (again,) = discover(tmp_path, "*.ipynb")
    assert again.content_hash != before


def _folder_of_notebooks(folder, names_oldest_first):
    folder.mkdir()
    for age, name in enumerate(reversed(names_oldest_first)):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        os.utime(path, (1000 - age, 1000 - age))


@pytest.mark.parametrize("pattern, names_oldest_first, graded, flags, notes", [
    # The one notebook named like the rubric's pattern, whatever else the folder holds; by name, not folder.
    ("DL2022_midterm*.ipynb", ["work/dl2022_MIDTERM.ipynb", "scratch.ipynb"], "work/dl2022_MIDTERM.ipynb", (), ()),
    ("중간고사*.ipynb", ["\u110c\u116e\u11bc\u1100\u1161\u11ab\u1100\u1169\u1109\u1161.ipynb", "b.ipynb"],  # NFD
     "\u110c\u116e\u11bc\u1100\u1161\u11ab\u1100\u1169\u1109\u1161.ipynb", (), ()),
    ("midterm*.ipynb", ["midterm_v1.ipynb", "midterm_v2.ipynb", "other.ipynb"], "midterm_v2.ipynb", ("several-notebooks",),
     ("2 notebooks in the folder match 'midterm*.ipynb'; graded the newest, midterm_v2.ipynb",)),
    ("midterm*.ipynb", ["a.ipynb", "b.ipynb"], "b.ipynb", ("several-notebooks",),
     ("2 notebooks in the folder and none matches 'midterm*.ipynb'; graded the newest, b.ipynb",)),
    ("midterm*.ipynb", ["Untitled.ipynb", ".ipynb_checkpoints/midterm-checkpoint.ipynb"], "Untitled.ipynb", (), ()),
])
def test_the_rubric_pattern_picks_the_notebook_of_a_folder(tmp_path, pattern, names_oldest_first, graded, flags, notes):
    _folder_of_notebooks(tmp_path / "홍길동(2022001)", names_oldest_first)
    (submission,) = discover(tmp_path, pattern)
    assert submission.notebook == tmp_path / "홍길동(2022001)" / graded
    assert (submission.flags, submission.notes) == (flags, notes)
