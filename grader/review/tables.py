"""The review pages' tables: filters and sort orders of the class summary, the queue's order, point buttons,
and a regrade's changes. Pure functions of results."""

from __future__ import annotations

from dataclasses import dataclass

from grader.results import SubmissionResult


def filter_results(results: list[SubmissionResult], status: str | None = None, flag: str | None = None,
                   item: str | None = None, item_status: str | None = None) -> list[SubmissionResult]:
    """The submissions with that status, that flag, and (with `item`) whose item has `item_status` (any status
    when not given: every submission that has the item)."""
    def keep(result: SubmissionResult) -> bool:
        if status and result.status != status:
            return False
        if flag and flag not in result.flags:
            return False
        if item:
            found = next((entry for entry in result.items if entry.id == item), None)
            if found is None or (item_status and found.status != item_status):
                return False
        return True

    return [result for result in results if keep(result)]


def sort_results(results: list[SubmissionResult], column: str, order: str = "asc") -> list[SubmissionResult]:
    """By `column`: student, name, status, flags, total, or an item id (its points); ties by student, always
    ascending. An unknown column sorts by student."""
    def key(result: SubmissionResult):
        if column == "total":
            return result.total
        if column in ("name", "status"):
            return str(getattr(result, column) or "")
        if column == "flags":
            return len(result.flags)
        return next((item.points for item in result.items if item.id == column), result.student)

    by_student = sorted(results, key=lambda result: result.student)
    if column == "student":
        return by_student[::-1] if order == "desc" else by_student
    return sorted(by_student, key=key, reverse=order == "desc")  # stable, also reversed: ties keep their order


def queue_order(results: list[SubmissionResult], item_id: str) -> list[SubmissionResult]:
    """The students who have the item, in the gradebook's order (by student key)."""
    return [result for result in results if any(item.id == item_id for item in result.items)]


def waiting(result: SubmissionResult, item_id: str) -> bool:
    """The item waits for a TA in this submission."""
    return any(item.id == item_id and item.status == "manual" for item in result.items)


def unanswered(result: SubmissionResult, item_id: str) -> bool:
    """The item waits for a TA and the student wrote nothing for it: no text beyond the template's (what the
    queue shows as the answer)."""
    return any(item.id == item_id and item.status == "manual" and not (item.answer or "").strip()
               for item in result.items)


def next_waiting(order: list[SubmissionResult], student: str, item_id: str) -> str | None:
    """The first student after `student` (going round) whose item still waits."""
    position = next(index for index, result in enumerate(order) if result.student == student)
    after = order[position + 1:] + order[:position]
    return next((result.student for result in after if waiting(result, item_id)), None)


def point_steps(max_points: float) -> list[tuple[str, float]]:
    """(keyboard key, points) for the quick buttons: every whole point up to 9, else ten-percent steps."""
    if max_points <= 9 and float(max_points).is_integer():
        return [(str(points), float(points)) for points in range(int(max_points) + 1)]
    steps = [round(max_points * tenth / 10, 2) for tenth in range(11)]
    keys = [str(n) for n in range(10)] + ["-"]
    return list(zip(keys, steps))


@dataclass(frozen=True)
class ItemChange:
    id: str
    title: str
    before: float
    after: float
    before_status: str
    after_status: str
    message: str  # the new message

    @property
    def changed(self) -> bool:
        return self.before != self.after or self.before_status != self.after_status


def item_changes(before: SubmissionResult, after: SubmissionResult) -> list[ItemChange]:
    """Item by item, what a regrade would change (manual scores applied to both sides)."""
    old = {item.id: item for item in before.items}
    changes = []
    for item in after.items:
        previous = old.get(item.id)
        changes.append(ItemChange(
            id=item.id, title=item.title, before=previous.points if previous else 0.0, after=item.points,
            before_status=previous.status if previous else "–", after_status=item.status, message=item.message))
    return changes
