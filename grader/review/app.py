"""The TA review web app: class summary, a queue of manual items, students' pages, overrides and regrades.

One Starlette app over one gradebook file. Every request opens the gradebook
afresh and every write is one SQLite transaction (grader.gradebook), so two
TAs, each running `grader review` on the same file, see each other's work and
an edit made on a page that has since gone stale is refused with a message.

Access needs the random token printed with the URL: the first visit trades it
for a cookie (SameSite=Strict), and every form carries it again (a page of
another site cannot post here). Pages are plain HTML forms; the one script,
served from the package, adds keyboard shortcuts.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import nbformat
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup
from mdit_py_plugins.dollarmath import dollarmath_plugin
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from grader.batch import write_outputs
from grader.export.csv_export import write_csv
from grader.gradebook import PAIR_DECISIONS, Gradebook, GradebookError, StaleEdit
from grader.paths import EXECUTED_DIR
from grader.report.plots import score_histogram
from grader.report.render import count_by, format_values, item_stats, problem_groups
from grader.results import ItemResult, SubmissionResult
from grader.review.groups import AnswerGroup, group_answers, same_texts
from grader.review.regrade import RegradeError, Regrader
from grader.similarity.pages import side_by_side, write_pages
from grader.similarity.pairs import Pair
from grader.similarity.report import SimilarityReport, read_report
from grader.review.tables import (filter_results, item_changes, next_waiting, point_steps, queue_order,
                                  sort_results, unanswered, waiting)

COOKIE = "grader_review"
NO_ANSWER = "no answer was written"  # the comment of a 0 given to an empty answer from the queue
EMPTY_FIELD = "empty:"  # the queue's form for empty answers: one field per student listed, holding its revision
MEMBER_FIELD = "member:"  # an answer group's form: one field per member, holding the revision it was shown with
GROUP_CHANGED = ("this group of answers has changed since the page was shown (a student was taken out of it or put "
                 "back, or an answer was graded again), so no answer was scored. The groups are shown as they are "
                 "now; score the group again")
STOPPED = "stopped: the review server that ran it was shut down; run it again"
# The score forms' two texts, labelled where they are typed: one goes to the student, the other stays with staff.
COMMENT_LABEL = "comment to the student (shown on their feedback)"
REASON_LABEL = "reason (staff only, required for an override)"
FIELD_LABELS = {"reason": REASON_LABEL}  # a `GradebookError.field` -> the box that takes it
HERE = Path(__file__).parent


@dataclass
class ReviewConfig:
    """gradebook: the SQLite file. ta: who is grading (stored with every change). out: the grading run's
    folder (reports, results.json, executed notebooks). token: the secret in the printed URL. regrader: grades
    a submission again (None: regrades are off, e.g. the sources are gone)."""

    gradebook: Path
    ta: str
    out: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    regrader: Regrader | None = None
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")


def create_app(config: ReviewConfig) -> Starlette:
    """The app. Pages run on worker threads (the gradebook's calls block); regrades run one at a time on a
    thread of their own."""
    review = _Review(config)
    routes = [
        Route("/", review.summary),
        Route("/queue", review.queue_index),
        Route("/queue/{item}", review.queue),
        Route("/queue/{item}/empty", review.posted(review.score_empty), methods=["POST"]),
        Route("/queue/{item}/groups", review.groups),
        Route("/queue/{item}/groups/{group}/score",
              review.posted(review.score_group, rejected=review.score_group_rejected), methods=["POST"]),
        Route("/queue/{item}/groups/take-out", review.posted(review.take_out), methods=["POST"]),
        Route("/queue/{item}/groups/put-back", review.posted(review.put_back), methods=["POST"]),
        Route("/students/{student}", review.student),
        Route("/students/{student}/items/{item}/score", review.posted(review.score, rejected=review.score_rejected),
              methods=["POST"]),
        Route("/students/{student}/regrade", review.posted(review.start_regrade), methods=["POST"]),
        Route("/regrades/{regrade:int}/accept", review.posted(review.accept_regrade), methods=["POST"]),
        Route("/regrades/{regrade:int}/discard", review.posted(review.discard_regrade), methods=["POST"]),
        Route("/similarity", review.similarity),
        Route("/similarity/{first}/{second}", review.similar_pair),
        Route("/similarity/{first}/{second}/decide", review.posted(review.decide_pair), methods=["POST"]),
        Route("/export/grades.csv", review.export_csv),
        Route("/publish", review.posted(review.publish), methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        await run_in_threadpool(review.stop)

    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(config.allowed_hosts))],
                    exception_handlers={GradebookError: review.gradebook_error})
    app.add_middleware(_TokenMiddleware, token=config.token)
    app.state.review = review
    return app


class _TokenMiddleware:
    """The URL's token, traded for a cookie; without either, nothing but a page saying how to get in. POSTs also
    need the token in their form (`csrf`), checked where the form is read."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if secrets.compare_digest(request.query_params.get("token", ""), self.token):
            remaining = {key: value for key, value in request.query_params.items() if key != "token"}
            response = RedirectResponse(request.url.path + (f"?{urlencode(remaining)}" if remaining else ""), 303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        if not secrets.compare_digest(request.cookies.get(COOKIE, ""), self.token):
            await HTMLResponse("<!DOCTYPE html><meta charset=utf-8><title>grader review</title><p>Open the address "
                               "<code>grader review</code> printed (it ends in <code>?token=…</code>).</p>",
                               status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def markdown_renderer() -> MarkdownIt:
    """Students' answers and the exam's questions as the notebook shows them: raw HTML is escaped, not run, and
    LaTeX between dollars is kept verbatim (markdown would eat its underscores and backslashes)."""
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).use(dollarmath_plugin).enable("table")


def environment() -> Environment:
    env = Environment(loader=ChoiceLoader([PackageLoader("grader.review", "templates"),
                                           PackageLoader("grader.report", "templates"),
                                           PackageLoader("grader.similarity", "templates")]),
                      autoescape=select_autoescape(["j2", "html"]), trim_blocks=True, lstrip_blocks=True)
    renderer = markdown_renderer()
    env.globals["css"] = (Path(__file__).parent.parent / "report" / "templates" / "report.css").read_text(encoding="utf-8")
    env.filters["values"] = format_values
    env.filters["points"] = lambda value: f"{value:g}" if value is not None else "–"
    env.globals["decisions"] = PAIR_DECISIONS
    # Safe to mark: with html off, markdown-it escapes every piece of the source it outputs.
    env.filters["markdown"] = lambda text: Markup(renderer.render(text or ""))
    return env


class _Review:
    def __init__(self, config: ReviewConfig) -> None:
        self.config = config
        self.env = environment()
        self.regrades = ThreadPoolExecutor(1, thread_name_prefix="regrade")  # kernels are heavy: one at a time
        self._publish_lock = threading.Lock()
        self._running: set[int] = set()  # regrades this server started and has not finished

    def stop(self) -> None:
        """The server is shutting down: a regrade in progress is stopped and recorded as failed, not left
        'running' in the gradebook for ever."""
        if self.config.regrader is not None:
            self.config.regrader.stop()
        with self.book() as book:
            for regrade_id in list(self._running):
                book.finish_regrade(regrade_id, None, None, STOPPED)
        self.regrades.shutdown(wait=True, cancel_futures=True)

    # -- helpers ---------------------------------------------------------------------

    @contextlib.contextmanager
    def book(self) -> Iterator[Gradebook]:
        with Gradebook(self.config.gradebook) as book:
            yield book

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Gradebook]:
        """The gradebook as of one moment, for a page."""
        with self.book() as book, book.snapshot():
            yield book

    def page(self, template: str, status_code: int = 200, **context) -> HTMLResponse:
        html = self.env.get_template(template).render(ta=self.config.ta, csrf=self.config.token,
                                                      regrades_on=self.config.regrader is not None,
                                                      comment_label=COMMENT_LABEL, reason_label=REASON_LABEL, **context)
        return HTMLResponse(html, status_code=status_code)

    def posted(self, action: Callable[[Request, dict[str, str]], Response],
               rejected: Callable[[Request, dict[str, str], GradebookError], Response] | None = None):
        """An endpoint that reads the form (refused without the page's token), then runs `action` on a worker
        thread: the gradebook's calls block, and may wait for another TA's write to finish. With `rejected`, an
        edit the gradebook refuses (bad points, no reason, a stale page) is answered by `rejected`: the page the
        form came from, again, instead of a page of its own."""
        async def endpoint(request: Request) -> Response:
            form = await request.form()
            if not secrets.compare_digest(str(form.get("csrf", "")), self.config.token):
                raise _Refused(403, "this form did not come from this review page; reload the page and try again")
            fields = {key: str(value) for key, value in form.items()}
            try:
                return await run_in_threadpool(action, request, fields)
            except GradebookError as err:
                if rejected is None or _status(err) == 404:
                    raise
                return await run_in_threadpool(rejected, request, fields, err)

        return endpoint

    def gradebook_error(self, request: Request, err: GradebookError) -> HTMLResponse:
        status = _status(err)
        title = "Not found" if status == 404 else "Not saved"
        return self.page("message.html.j2", status_code=status, title=title, message=_refusal(err),
                         back=request.headers.get("referer"))

    def _student_or_404(self, book: Gradebook, student: str) -> SubmissionResult:
        if student not in book.students():
            raise _Refused(404, f"no student {student!r} in this gradebook")
        return book.result(student)

    # -- pages -----------------------------------------------------------------------

    def summary(self, request: Request) -> HTMLResponse:
        params = request.query_params
        with self.snapshot() as book:
            rubric = book.rubric()
            results = book.results()
        shown = sort_results(filter_results(results, status=params.get("status"), flag=params.get("flag"),
                                            item=params.get("item"), item_status=params.get("item_status")),
                             params.get("sort", "student"), params.get("order", "asc"))
        return self.page("class.html.j2", rubric=rubric, results=shown, all_count=len(results), params=params,
                         mean=sum(result.total for result in results) / len(results) if results else 0.0,
                         stats=item_stats(rubric, results), counts=count_by(result.status for result in results),
                         histogram=score_histogram([result.total for result in results], rubric.total)
                         if results else None, statuses=sorted({r.status for r in results}),
                         flags=sorted({flag for r in results for flag in r.flags}),
                         manual_items=_manual_items(rubric),
                         sort_link=lambda column: _sort_link(params, column))

    def queue_index(self, request: Request) -> Response:
        with self.snapshot() as book:
            rubric = book.rubric()
            results = book.results()
        items = _manual_items(rubric)
        counts = {item["id"]: sum(waiting(result, item["id"]) for result in results) for item in items}
        return self.page("queue_index.html.j2", rubric=rubric, items=items, counts=counts, students=len(results))

    def queue(self, request: Request) -> Response:
        params = request.query_params
        zeroed = (int(params["zeroed"]), int(params["skipped"])) \
            if params.get("zeroed", "").isdigit() and params.get("skipped", "").isdigit() else None
        return self._queue_page(request.path_params["item"], params.get("student"), zeroed=zeroed)

    def _queue_page(self, item_id: str, student: str | None, rejected: _Rejected | None = None,
                    status_code: int = 200, zeroed: tuple[int, int] | None = None) -> Response:
        """One answer to `item_id` (`student`'s, or the first that waits), its form, the list of students, and
        the waiting answers that are empty. zeroed: (scored, skipped) by the form for empty answers just now."""
        with self.snapshot() as book:
            rubric = book.rubric()
            spec = _spec_or_404(rubric, item_id)
            results = book.results()
            order = queue_order(results, item_id)
            student = student or next(
                (result.student for result in order if waiting(result, item_id)), None)
            if student is None:
                return self.page("queue_done.html.j2", rubric=rubric, spec=spec, results=order, zeroed=zeroed)
            current = next((result for result in order if result.student == student), None)
            if current is None:
                raise _Refused(404, f"no student {student!r} in this gradebook")
            revision = book.revisions(student)[item_id]
            empty = {result.student: book.revisions(result.student)[item_id]
                     for result in order if unanswered(result, item_id)}
        position = order.index(current)
        return self.page(
            "queue.html.j2", status_code, rubric=rubric, spec=spec, results=order, result=current, rejected=rejected,
            item=next(item for item in current.items if item.id == item_id), revision=revision,
            steps=point_steps(spec["points"]), pending=sum(waiting(result, item_id) for result in order),
            previous=order[position - 1].student if position > 0 else None,
            following=order[position + 1].student if position + 1 < len(order) else None,
            empty=[result for result in order if result.student in empty], empty_revisions=empty,
            empty_field=EMPTY_FIELD, no_answer=NO_ANSWER, zeroed=zeroed,
        )

    def student(self, request: Request) -> Response:
        return self._student_page(request.path_params["student"])

    def _student_page(self, student: str, rejected: _Rejected | None = None, status_code: int = 200) -> Response:
        with self.snapshot() as book:
            rubric = book.rubric()
            result = self._student_or_404(book, student)
            history = book.history(student)
            revisions = book.revisions(student)
            regrade = book.latest_regrade(student)
            changes = proposed = None
            if regrade is not None and regrade.state == "ready":
                proposed = book.effective(regrade.proposed)  # with the manual scores and late policy it would get
                changes = item_changes(result, proposed)
        return self.page("student_page.html.j2", status_code, rubric=rubric, result=result, history=history,
                         revisions=revisions, problems=problem_groups(rubric),
                         items={item.id: item for item in result.items}, regrade=regrade, changes=changes,
                         proposed=proposed, rejected=rejected)

    # -- actions ---------------------------------------------------------------------

    def score(self, request: Request, form: dict[str, str]) -> Response:
        student, item_id = request.path_params["student"], request.path_params["item"]
        with self.book() as book:
            _item_or_404(self._student_or_404(book, student), item_id)
            points = _points(form.get("points", ""))
            book.set_score(student, item_id, points, form.get("comment", ""), self.config.ta,
                           reason=form.get("reason", ""), expected_revision=form.get("revision") or None)
            if form.get("then") == "queue":
                upcoming = next_waiting(queue_order(book.results(), item_id), student, item_id)
                target = f"/queue/{item_id}" + (f"?{urlencode({'student': upcoming})}" if upcoming else "")
                return RedirectResponse(target, 303)
        return RedirectResponse(f"/students/{student}#item-{item_id}", 303)

    def score_rejected(self, request: Request, form: dict[str, str], err: GradebookError) -> Response:
        """The page the score came from (the queue, or the student's page) as it is now, with the refusal next to
        the form and the form filled in with what was sent: nothing typed is lost. An item gone meanwhile (a
        regrade with a changed rubric) has no form to show it next to: a page of its own, as for other refusals."""
        student, item_id = request.path_params["student"], request.path_params["item"]
        with self.snapshot() as book:
            self._student_or_404(book, student)
            if item_id not in book.revisions(student):
                raise err
        rejected = _Rejected(item=item_id, message=_refusal(err), stale=isinstance(err, StaleEdit), typed=form)
        if form.get("then") == "queue":
            return self._queue_page(item_id, student, rejected, _status(err))
        return self._student_page(student, rejected, _status(err))

    def score_empty(self, request: Request, form: dict[str, str]) -> Response:
        """0 points for each answer to the item that the queue listed as empty and that still waits, each as a
        manual score of its own. Each is checked against the revision the page listed it with: an answer scored
        by someone else or graded again since is skipped, never overwritten."""
        item_id = request.path_params["item"]
        listed = {key.removeprefix(EMPTY_FIELD): value for key, value in form.items() if key.startswith(EMPTY_FIELD)}
        scored = 0
        with self.book() as book:
            _spec_or_404(book.rubric(), item_id)
            for student in sorted(listed.keys() & set(book.students())):
                if not unanswered(book.result(student), item_id):
                    continue
                try:
                    book.set_score(student=student, item_id=item_id, points=0.0, comment=NO_ANSWER,
                                   by=self.config.ta, expected_revision=listed[student])
                except StaleEdit:
                    continue
                scored += 1
        return RedirectResponse(f"/queue/{item_id}?{urlencode({'zeroed': scored, 'skipped': len(listed) - scored})}",
                                303)

    def start_regrade(self, request: Request, form: dict[str, str]) -> Response:
        student = request.path_params["student"]
        if self.config.regrader is None:
            raise _Refused(400, "regrades are off: this gradebook does not say where its rubric and submissions are "
                                "(start `grader review` with --rubric and --submissions)")
        with self.book() as book:
            self._student_or_404(book, student)
            regrade_id = book.begin_regrade(student, self.config.ta)
        self._running.add(regrade_id)
        self.regrades.submit(self._run_regrade, regrade_id, student)
        return RedirectResponse(f"/students/{student}#regrade", 303)

    def _run_regrade(self, regrade_id: int, student: str) -> None:
        try:
            self._regrade(regrade_id, student)
        finally:
            self._running.discard(regrade_id)

    def _regrade(self, regrade_id: int, student: str) -> None:
        try:
            result, rubric, executed = self.config.regrader.grade(student)
        except RegradeError as err:
            with self.book() as book:
                book.finish_regrade(regrade_id, None, None, str(err))
            return
        except KeyboardInterrupt:  # its kernel was stopped: the server is shutting down
            with self.book() as book:
                book.finish_regrade(regrade_id, None, None, STOPPED)
            return
        except Exception as err:  # a grader bug: shown on the page, the server goes on
            with self.book() as book:
                book.finish_regrade(regrade_id, None, None, f"the grader failed: {type(err).__name__}: {err}")
            return
        if executed is not None:
            folder = self.config.out / EXECUTED_DIR
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(executed, folder / f".regrade-{regrade_id}.ipynb")
        with self.book() as book:
            book.finish_regrade(regrade_id, result, rubric)

    def accept_regrade(self, request: Request, form: dict[str, str]) -> Response:
        with self.book() as book:
            regrade = book.accept_regrade(request.path_params["regrade"], self.config.ta, form.get("reason", ""))
        executed = self.config.out / EXECUTED_DIR / f".regrade-{regrade.id}.ipynb"
        if executed.is_file():
            executed.replace(executed.with_name(f"{regrade.student}.ipynb"))
        return RedirectResponse(f"/students/{regrade.student}", 303)

    def discard_regrade(self, request: Request, form: dict[str, str]) -> Response:
        with self.book() as book:
            regrade = book.discard_regrade(request.path_params["regrade"], self.config.ta)
        (self.config.out / EXECUTED_DIR / f".regrade-{regrade.id}.ipynb").unlink(missing_ok=True)
        return RedirectResponse(f"/students/{regrade.student}", 303)

    # -- similar submissions: a TA's decision about a pair, never a score -----------------------

    def similarity(self, request: Request) -> Response:
        report = read_report(self.config.out)
        with self.snapshot() as book:
            reviews = book.latest_pair_reviews()
        return self.page("similarity.html.j2", report=report, reviews=reviews, out=self.config.out)

    def _pair_or_404(self, request: Request) -> tuple[SimilarityReport, Pair]:
        first, second = sorted((request.path_params["first"], request.path_params["second"]))
        report = read_report(self.config.out)
        pair = report.pair(first, second) if report else None
        if report is None or pair is None:
            raise _Refused(404, f"{first} and {second} are not a pair of the last `grader similarity` run")
        return report, pair

    def similar_pair(self, request: Request) -> Response:
        report, pair = self._pair_or_404(request)
        with self.snapshot() as book:
            history = [review for review in book.pair_reviews() if (review.first, review.second) == (pair.a, pair.b)]
        return self.page("similarity_pair.html.j2", report=report, pair=pair, sides=side_by_side(report, pair),
                         review=history[-1] if history else None, history=history)

    def decide_pair(self, request: Request, form: dict[str, str]) -> Response:
        report, pair = self._pair_or_404(request)
        with self.book() as book:
            book.review_pair(pair.a, pair.b, form.get("decision", ""), form.get("note", ""), self.config.ta,
                             pair.score)
            write_pages(self.config.out, report, book.latest_pair_reviews())  # the static table says it too
        return RedirectResponse(f"/similarity/{quote(pair.a)}/{quote(pair.b)}", status_code=303)

    def export_csv(self, request: Request) -> Response:
        with self.snapshot() as book, tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "grades.csv"
            write_csv(target, book.rubric(), book.results())
            content = target.read_bytes()
        return Response(content, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="grades.csv"'})

    def publish(self, request: Request, form: dict[str, str]) -> Response:
        """results.json and the HTML reports, written again with every change so far."""
        with self._publish_lock, self.book() as book:
            write_outputs(self.config.out, book)
        return RedirectResponse("/?published=1", 303)

    # -- answer groups: alike answers to a manual item, scored at once ------------------

    def groups(self, request: Request) -> Response:
        params = request.query_params
        done = _GroupScored(params.get("group", ""), int(params["scored"]), int(params["kept"])) \
            if params.get("scored", "").isdigit() and params.get("kept", "").isdigit() else None
        return self._groups_page(request.path_params["item"], done=done)

    def _groups_page(self, item_id: str, rejected: _Rejected | None = None, status_code: int = 200,
                     done: _GroupScored | None = None) -> Response:
        """The item's answers in groups, largest first, each with one form that scores the whole group, then the
        answers that stand alone. rejected: a group score refused just now; done: a group score saved just now."""
        with self.snapshot() as book:
            rubric = book.rubric()
            spec = _spec_or_404(rubric, item_id)
            shown = _item_groups(book, item_id)
        together = [group for group in shown.groups if group.size >= 2]
        return self.page(
            "groups.html.j2", status_code, rubric=rubric, spec=spec, shown=shown, together=together,
            alone=[group.members[0] for group in shown.groups if group.size == 1],
            texts={group.id: same_texts(group.members, shown.answers) for group in together},
            waiting_in={group.id: sum(shown.items[student].status == "manual" for student in group.members)
                        for group in together},
            pending=sum(waiting(result, item_id) for result in shown.results.values()),
            rejected=rejected, vanished=rejected is not None and all(group.id != rejected.item for group in together),
            done=done,
            member_field=MEMBER_FIELD)

    def score_group(self, request: Request, form: dict[str, str]) -> Response:
        """The form's points and comment for every member of the group, each a manual score of its own that says
        which group it came from. Refused, and nobody scored, if the group is not the one the form was made for."""
        item_id, group_id = request.path_params["item"], request.path_params["group"]
        posted = {key.removeprefix(MEMBER_FIELD): value for key, value in form.items() if key.startswith(MEMBER_FIELD)}
        with self.book() as book:
            with book.snapshot():
                _spec_or_404(book.rubric(), item_id)
                shown = _item_groups(book, item_id)
            points = _points(form.get("points", ""))
            group = shown.group(group_id)
            if group is None or set(group.members) != posted.keys():
                raise StaleEdit(GROUP_CHANGED)
            scored = book.set_group_score(item_id, group.id, posted, points, form.get("comment", ""), self.config.ta,
                                          take_outs_revision=shown.take_outs, reason=form.get("reason", ""),
                                          replace=form.get("replace") == "yes")
        query = urlencode({"group": group.id, "scored": len(scored), "kept": group.size - len(scored)})
        return RedirectResponse(f"/queue/{item_id}/groups?{query}#group-{group.id}", 303)

    def score_group_rejected(self, request: Request, form: dict[str, str], err: GradebookError) -> Response:
        """The groups as they are now, the refusal at the group's form with what was typed in it (or above the
        groups, what was typed with it, when that group is there no more)."""
        rejected = _Rejected(item=request.path_params["group"], message=_refusal(err),
                             stale=isinstance(err, StaleEdit), typed=form)
        return self._groups_page(request.path_params["item"], rejected, _status(err))

    def take_out(self, request: Request, form: dict[str, str]) -> Response:
        return self._set_alone(request, form, alone=True)

    def put_back(self, request: Request, form: dict[str, str]) -> Response:
        return self._set_alone(request, form, alone=False)

    def _set_alone(self, request: Request, form: dict[str, str], alone: bool) -> Response:
        item_id, student = request.path_params["item"], form.get("student", "")
        with self.book() as book:
            _spec_or_404(book.rubric(), item_id)
            self._student_or_404(book, student)
            book.set_alone(student, item_id, alone, self.config.ta)
        return RedirectResponse(f"/queue/{item_id}/groups#student-{quote(student)}", 303)


class _Refused(GradebookError):
    """A request the page cannot honour (unknown student, malformed input): shown with its status code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _ItemGroups:
    """An item's answer groups as of one moment, with what their page and forms need. results, items, revisions:
    each student who has the item; answers: those with text (the empty ones have the queue's own form)."""

    results: dict[str, SubmissionResult]
    items: dict[str, ItemResult]
    revisions: dict[str, str]
    answers: dict[str, str]
    groups: list[AnswerGroup]
    alone: dict[str, tuple[str, str]]  # taken out of their group by a TA -> (who, when)
    take_outs: str  # Gradebook.take_outs_revision, as the groups were worked out
    empty: int  # waiting answers with no text

    def group(self, group_id: str) -> AnswerGroup | None:
        return next((group for group in self.groups if group.id == group_id), None)


def _item_groups(book: Gradebook, item_id: str) -> _ItemGroups:
    """Read within one snapshot, so that the groups, the revisions and the take-outs are of one moment."""
    results = {result.student: result for result in queue_order(book.results(), item_id)}
    items = {student: next(item for item in result.items if item.id == item_id) for student, result in results.items()}
    answers = {student: item.answer for student, item in items.items() if item.answer and item.answer.strip()}
    alone = book.alone(item_id)
    return _ItemGroups(results=results, items=items,
                       revisions={student: book.revisions(student)[item_id] for student in results},
                       answers=answers, groups=group_answers(answers, alone=alone.keys()), alone=alone,
                       take_outs=book.take_outs_revision(item_id),
                       empty=sum(unanswered(result, item_id) for result in results.values()))


@dataclass(frozen=True)
class _GroupScored:
    """What a group's form did just now: its group, the members it scored, and those that kept their score."""

    group: str
    scored: int
    kept: int


def _spec_or_404(rubric, item_id: str) -> dict:
    spec = next((item for item in rubric.items if item["id"] == item_id), None)
    if spec is None:
        raise _Refused(404, f"no item {item_id!r}; items are {', '.join(item['id'] for item in rubric.items)}")
    return spec


def _item_or_404(result: SubmissionResult, item_id: str) -> None:
    if all(item.id != item_id for item in result.items):
        raise _Refused(404, f"no item {item_id!r}; items are {', '.join(item.id for item in result.items)}")


def _refusal(err: GradebookError) -> str:
    """The gradebook's message, pointing at the box on the page that takes what was missing."""
    label = FIELD_LABELS.get(err.field or "")
    return f"{err}: write it in the box “{label}”" if label else str(err)


def _status(err: GradebookError) -> int:
    return err.status if isinstance(err, _Refused) else 409 if isinstance(err, StaleEdit) else 400


@dataclass(frozen=True)
class _Rejected:
    """An edit refused on its way in, shown next to the form it came from. typed: every field of the form as
    sent, which the form's fields show again (a field reads its own name: a new field needs nothing here)."""

    item: str
    message: str
    stale: bool  # someone changed the item since the page was opened: the page shown now has their change
    typed: dict[str, str]


def _points(text: str) -> float:
    try:
        points = float(text.strip().replace(",", "."))
    except ValueError:
        raise _Refused(400, f"points must be a number, like 4 or 2.5; got {text.strip()[:40]!r}") from None
    if not math.isfinite(points):
        raise _Refused(400, f"points must be a finite number; got {text.strip()[:40]!r}")
    return points


def _manual_items(rubric) -> list[dict]:
    return [item for item in rubric.items if "manual" in item.get("kinds", []) and not item.get("void_points")]


def _sort_link(params, column: str) -> str:
    order = "desc" if params.get("sort") == column and params.get("order", "asc") == "asc" else "asc"
    kept = {key: value for key, value in params.items() if key not in ("sort", "order", "published")}
    return "/?" + urlencode({**kept, "sort": column, "order": order})
