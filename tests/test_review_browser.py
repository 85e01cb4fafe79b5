"""The review pages in a real headless Chromium (Debian's, driven by Selenium): a TA grades 2.5 for three
students with the keyboard, overrides an automatic item, reloads, and finds the new values in the export.

`make test` installs chromium and chromium-driver. Screenshots are kept in test-artifacts/: the queue page
(review-queue.png) and the class table on a wide screen and a phone (review-class-*.png).
"""

from __future__ import annotations

import csv
import io
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from typer.testing import CliRunner

from grader.cli import app as grader_cli
from grader.gradebook import Gradebook
from grader.review.app import ReviewConfig, create_app
from tests import review_book

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TA = "박조교"


def until_gone(browser, element) -> None:
    """Until `element` has left the page. Asked in the middle of the navigation, chromedriver may answer that its
    node "does not belong to the document" (a WebDriverException) rather than that it is stale: asked again, it is."""
    WebDriverWait(browser, 20, ignored_exceptions=[WebDriverException]).until(expected_conditions.staleness_of(element))


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, str, Path]]:
    """The app on a free port of 127.0.0.1, as `grader review` serves it; yields its URL with the token."""
    book_path = review_book.build(tmp_path / "run" / "gradebook.sqlite")
    config = ReviewConfig(gradebook=book_path, ta=TA, out=book_path.parent)
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    running = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning"))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    for _ in range(200):
        if running.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{listening.getsockname()[1]}", config.token, book_path
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "the browser test needs Debian's chromium and chromium-driver: run `make system`"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--lang=ko-KR"):
        options.add_argument(argument)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    chrome.set_page_load_timeout(30)
    yield chrome
    chrome.quit()


def current_student(browser: webdriver.Chrome) -> str:
    return browser.find_element(By.ID, "current").get_attribute("data-student")


def press(browser: webdriver.Chrome, *keys: str) -> None:
    for key in keys:
        browser.find_element(By.TAG_NAME, "body").send_keys(key)


def test_grade_the_queue_with_the_keyboard_override_reload_and_export(server, browser):
    url, token, book_path = server
    wait = WebDriverWait(browser, 20)
    browser.get(f"{url}/?token={token}")
    assert browser.find_element(By.ID, "ta").text == TA
    browser.find_element(By.LINK_TEXT, "Queue").click()
    browser.find_element(By.LINK_TEXT, "2.5").click()

    # the first waiting answer: Korean as written, LaTeX drawn by KaTeX from the served copy
    assert current_student(browser) == "2022001"
    answer = browser.find_element(By.ID, "answer")
    assert answer.text.startswith("기울기가") and "이므로 수렴했다." in answer.text
    assert answer.find_elements(By.CSS_SELECTOR, ".katex annotation")[0].get_attribute("textContent") == \
        "\\nabla_w L \\approx 0"
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "review-queue.png"))

    for student, keys, points in (("2022001", ["5"], "5"), ("2022002", ["1"], "1"), ("2022003", ["6"], "6")):
        assert current_student(browser) == student
        press(browser, *keys)
        assert browser.find_element(By.ID, "points").get_attribute("value") == points
        press(browser, "c")
        browser.switch_to.active_element.send_keys(f"{student}: 채점 완료")
        browser.switch_to.active_element.send_keys("\ue00c")  # Esc leaves the comment box
        press(browser, "\ue007")  # Enter saves and moves on
        until_gone(browser, answer)
        answer = browser.find_element(By.TAG_NAME, "main")
    assert browser.find_element(By.ID, "done").text == "Every answer to 2.5 is graded."

    # override an automatic item from the student's page
    browser.get(f"{url}/students/2022002")
    form = browser.find_element(By.CSS_SELECTOR, '#item-2\\.2 form.score-form')
    form.find_element(By.NAME, "points").send_keys("7")
    form.find_element(By.NAME, "comment").send_keys("손실의 부호만 다름: 같은 기울기")
    form.find_element(By.TAG_NAME, "button").click()  # the browser keeps it: an override's reason is required
    assert browser.current_url == f"{url}/students/2022002"
    form.find_element(By.NAME, "reason").send_keys("the reference's loss has the other sign")
    form.find_element(By.TAG_NAME, "button").click()
    # refused: the same page, the message in 2.2's form, the reason kept, the points box focused to fix
    until_gone(browser, form)
    form = browser.find_element(By.CSS_SELECTOR, '#item-2\\.2 form.score-form')
    assert form.find_element(By.ID, "rejected").text == "Not saved: item 2.2 is worth 0 to 6 points, not 7"
    assert form.find_element(By.NAME, "comment").get_attribute("value") == "손실의 부호만 다름: 같은 기울기"
    focused = browser.switch_to.active_element
    assert (focused.get_attribute("name"), focused.get_attribute("value")) == ("points", "7")
    focused.clear()
    focused.send_keys("6")
    form.find_element(By.TAG_NAME, "button").click()
    wait.until(expected_conditions.url_contains("#item-2.2"))

    browser.refresh()
    assert browser.find_element(By.ID, "total").text == "45 / 100"  # 40 + 1 (2.5) + 4 (2.2: 2 -> 6)
    history = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
               for row in browser.find_elements(By.CSS_SELECTOR, "table.history tr")[1:]]
    assert [row[1:] for row in history] == [
        [TA, "2.5", "manual", "?", "1", "2022002: 채점 완료", ""],
        [TA, "2.2", "override", "2", "6", "손실의 부호만 다름: 같은 기울기", "the reference's loss has the other sign"]]

    browser.get(url)
    shown = {row.get_attribute("data-student"): row.find_element(By.CSS_SELECTOR, "td.total").text
             for row in browser.find_elements(By.CSS_SELECTOR, "#students tr[data-student]")}
    assert shown == {"2022001": "49", "2022002": "45", "2022003": "50", "2022004": "48"}

    # the CSV link, fetched with the page's cookie; and `grader export` on the same gradebook
    exported = browser.execute_async_script(
        "const done = arguments[0]; fetch('/export/grades.csv').then(r => r.text()).then(done);")
    rows = {row["student"]: (row["2.5"], row["2.2"], row["total"])
            for row in csv.DictReader(io.StringIO(exported.lstrip("\ufeff")))}
    expected = {"2022001": ("5", "6", "49"), "2022002": ("1", "6", "45"), "2022003": ("6", "6", "50"),
                "2022004": ("4", "6", "48")}
    assert rows == expected
    target = book_path.parent / "export.csv"
    done = CliRunner().invoke(grader_cli, ["export", "--format", "csv", "--gradebook", str(book_path),
                                           "--out", str(book_path.parent), "--to", str(target)])
    assert done.exit_code == 0, done.output
    with target.open(encoding="utf-8-sig") as stream:
        assert {row["student"]: (row["2.5"], row["2.2"], row["total"]) for row in csv.DictReader(stream)} == expected
    with Gradebook(book_path) as book:
        assert {result.student: result.status for result in book.results()} == dict.fromkeys(review_book.STUDENTS,
                                                                                             "graded")


def cell_box(browser: webdriver.Chrome, selector: str) -> dict:
    return browser.execute_script("const r = document.querySelector(arguments[0]).getBoundingClientRect();"
                                  "return {left: r.left, right: r.right};", selector)


def test_the_class_table_uses_a_wide_screen_and_keeps_student_and_total_on_a_phone(server, browser):
    url, token, _ = server
    browser.get(f"{url}/?token={token}")
    table = "#students"
    scroller = "document.querySelector('#students').parentElement"
    ARTIFACTS.mkdir(exist_ok=True)

    browser.set_window_size(1920, 1000)
    browser.refresh()
    # every column of the midterm fits: neither the table's card nor the page scrolls sideways
    assert browser.execute_script(f"const s = {scroller}; return [s.scrollWidth <= s.clientWidth,"
                                  "document.documentElement.scrollWidth <= window.innerWidth]") == [True, True]
    assert browser.execute_script(f"return {scroller}.clientWidth") > 1800
    browser.execute_script("document.querySelector(arguments[0]).scrollIntoView()", table)
    browser.save_screenshot(str(ARTIFACTS / "review-class-1920.png"))

    browser.set_window_size(390, 844)
    browser.refresh()
    width = browser.execute_script("return window.innerWidth")
    assert browser.execute_script(f"const s = {scroller}; return [s.scrollWidth > s.clientWidth,"
                                  "document.documentElement.scrollWidth <= window.innerWidth]") == [True, True]
    browser.execute_script("document.querySelector(arguments[0]).scrollIntoView()", table)
    for scrolled in ("0", "s.scrollWidth"):
        browser.execute_script(f"const s = {scroller}; s.scrollLeft = {scrolled};")
        for student in review_book.STUDENTS:
            row = f'#students tr[data-student="{student}"]'
            first, total = cell_box(browser, f"{row} td:first-child"), cell_box(browser, f"{row} td.total")
            assert 0 <= first["left"] < first["right"] <= total["left"] < total["right"] <= width, (scrolled, student)
        browser.save_screenshot(str(ARTIFACTS / f"review-class-390-{'start' if scrolled == '0' else 'end'}.png"))
    # scrolled to the end, the last item's column shows between the two, not under the total
    last = cell_box(browser, '#students tr[data-student="2022001"] td:nth-last-child(2)')
    assert last["right"] <= cell_box(browser, '#students tr[data-student="2022001"] td.total')["left"] + 1


# What a key press sends with a Korean keyboard in Hangul mode: the jamo (or "Process") as `key`, the physical key
# as `code`. Selenium cannot switch IMEs, so the events are sent as the browser would make them; the script
# returns the navigations the press started (the Navigation API reports them as they start).
HANGUL_PRESS = """
const [target, key, code] = arguments;
const started = [];
navigation.addEventListener("navigate", (event) => started.push(event.destination.url));
target.dispatchEvent(new KeyboardEvent("keydown", {key, code, bubbles: true, cancelable: true}));
return started;
"""


def test_shortcuts_follow_the_physical_key_with_a_korean_keyboard_in_hangul_mode(server, browser):
    url, token, _ = server
    browser.get(f"{url}/queue/2.5?token={token}")
    assert current_student(browser) == "2022001"

    def hangul(key: str, code: str, target=None) -> list[str]:
        return browser.execute_script(HANGUL_PRESS, target or browser.find_element(By.TAG_NAME, "body"), key, code)

    for key, code, student in (("ㅓ", "KeyJ", "2022002"), ("ㅏ", "KeyK", "2022001"), ("Process", "KeyJ", "2022002")):
        main = browser.find_element(By.TAG_NAME, "main")
        assert hangul(key, code) == [f"{url}/queue/2.5?student={student}"]
        until_gone(browser, main)
        assert current_student(browser) == student

    points = browser.find_element(By.ID, "points")
    for key, code, expected in (("(", "Digit5", "5"), ("Process", "Numpad3", "3"), ("&", "Digit1", "1")):
        assert hangul(key, code) == []
        assert points.get_attribute("value") == expected
        assert browser.find_element(By.CSS_SELECTOR, 'button.step[aria-pressed="true"]').get_attribute(
            "data-points") == expected

    assert hangul("ㅊ", "KeyC") == []
    comment = browser.switch_to.active_element
    assert comment.get_attribute("id") == "comment"
    # in the comment box the same keys are text: no shortcut moves on or changes the points
    comment.send_keys("좋은 답 jk 5")
    for key, code in (("ㅓ", "KeyJ"), ("ㅏ", "KeyK"), ("ㅊ", "KeyC"), ("ㅑ", "Digit6")):
        assert hangul(key, code, comment) == []
    assert (comment.get_attribute("value"), points.get_attribute("value")) == ("좋은 답 jk 5", "1")
    assert current_student(browser) == "2022002"
    hangul("Escape", "Escape", comment)
    assert browser.switch_to.active_element.tag_name == "body"


def test_empty_answers_get_0_from_the_queue_and_enter_on_that_button_is_its_own(server, browser):
    url, token, book_path = server
    with Gradebook(book_path) as book:
        for student in ("2022002", "2022003"):
            book.store(review_book.submission(student, answer=""))
    browser.get(f"{url}/queue/2.5?token={token}")
    browser.find_element(By.CSS_SELECTOR, "#empty summary").click()
    assert [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#empty li")] == [
        f"{review_book.NAMES['2022002']} 2022002", f"{review_book.NAMES['2022003']} 2022003"]
    button = browser.find_element(By.ID, "score-empty")
    button.send_keys("\ue007")  # Enter with the focus on it: this form, not the queue's score form
    until_gone(browser, button)
    assert browser.find_element(By.ID, "zeroed").text == "2 empty answers scored 0."
    assert current_student(browser) == "2022001"
    with Gradebook(book_path) as book:
        assert {student: [(e["points"], e["by"], e["comment"]) for e in book.history(student)]
                for student in review_book.STUDENTS} == {
            "2022001": [], "2022002": [(0.0, TA, "no answer was written")],
            "2022003": [(0.0, TA, "no answer was written")], "2022004": [(4.0, "Lee", "")]}


# Three alike answers (2022004's scored 4 by Lee already) and one of another argument.
GROUPED = {
    "2022001": "최종업데이트에서 계산된 미분계수가 거의 0이므로 잘 수렴했다고 판단된다.",
    "2022002": "최종 업데이트에서 계산된 미분계수가 거의 0이므로 잘 수렴했다고 판단되어진다.",
    "2022003": "참값을 모르기 때문에 잘 되었는지 알 수 없다.",
    "2022004": "**최종업데이트에서** 계산된 미분겨수가 거의 0이므로 잘 수렴햇다고 판단된다",
}


def members(section) -> list[str]:
    return [entry.get_attribute("data-student") for entry in section.find_elements(By.CSS_SELECTOR, "li[data-student]")]


def test_grade_a_group_of_alike_answers_after_taking_one_out(server, browser):
    url, token, book_path = server
    with Gradebook(book_path) as book:
        for student, answer in GROUPED.items():
            book.store(review_book.submission(student, answer=answer))
    browser.get(f"{url}/queue/2.5?token={token}")
    browser.find_element(By.ID, "groups-link").click()
    (group,) = browser.find_elements(By.CSS_SELECTOR, "section.group")
    assert members(group) == ["2022001", "2022002", "2022004"]
    assert members(browser.find_element(By.ID, "alone")) == ["2022003"]
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "review-groups.png"))

    # 2022002 is taken out: it stands alone, and the group is the other two
    group.find_element(By.CSS_SELECTOR, 'li[data-student="2022002"] form.take-out button').click()
    until_gone(browser, group)
    (group,) = browser.find_elements(By.CSS_SELECTOR, "section.group")
    assert members(group) == ["2022001", "2022004"]
    assert members(browser.find_element(By.ID, "alone")) == ["2022002", "2022003"]

    # one form for the group; Lee's score is replaced only because the box says so
    form = group.find_element(By.CSS_SELECTOR, "form.group-score")
    form.find_element(By.NAME, "points").send_keys("5")
    form.find_element(By.NAME, "comment").send_keys("미분계수 근거가 맞음")
    form.find_element(By.NAME, "replace").click()
    form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    until_gone(browser, form)
    group_id = browser.find_element(By.CSS_SELECTOR, "section.group").get_attribute("data-group")
    assert browser.find_element(By.ID, "group-scored").text == f"Group {group_id}: 2 answers scored."
    assert [entry.text for entry in browser.find_elements(By.CSS_SELECTOR, "section.group strong.given")] == [
        "5 / 6", "5 / 6"]

    # the one taken out, graded by itself from the queue
    browser.find_element(By.CSS_SELECTOR, '#alone li[data-student="2022002"] a').click()
    assert current_student(browser) == "2022002"
    answer = browser.find_element(By.ID, "answer")
    press(browser, "3", "\ue007")
    until_gone(browser, answer)
    with Gradebook(book_path) as book:
        given = {student: (item.points, item.status, item.manual.by if item.manual else None)
                 for student in review_book.STUDENTS for item in book.result(student).items if item.id == "2.5"}
        entries = {student: [(e["by"], e["points"], e["group"], e["group_size"]) for e in book.history(student)]
                   for student in review_book.STUDENTS}
    assert given == {"2022001": (5.0, "partial", TA), "2022002": (3.0, "partial", TA),
                     "2022003": (0.0, "manual", None), "2022004": (5.0, "partial", TA)}
    assert entries == {"2022001": [(TA, 5.0, group_id, 2)], "2022002": [(TA, 3.0, None, None)], "2022003": [],
                       "2022004": [("Lee", 4.0, None, None), (TA, 5.0, group_id, 2)]}

    browser.get(f"{url}/students/2022004")
    history = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
               for row in browser.find_elements(By.CSS_SELECTOR, "table.history tr")[1:]]
    assert [row[1:] for row in history] == [
        ["Lee", "2.5", "manual", "?", "4", "", ""],
        [TA, "2.5", f"manual, group score (group {group_id}, 2 answers)", "4", "5", "미분계수 근거가 맞음", ""]]
