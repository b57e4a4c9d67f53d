"""End-state checks of a run: notifications, updates, items, posts, duplicates, logs."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from publisher.wordpress import post_slug
from tests.faults.driver import Injection, Track
from tests.faults.notices import Notice, expected_notifications, notification_counts
from tests.faults.observers import JSON, CallLog, WordPressReader
from tests.faults.office import IT_CHAT, Office


@dataclass
class NoticeReport:
    expected: int = 0
    missing: list[Notice] = field(default_factory=list)
    duplicates: dict[Notice, int] = field(default_factory=dict)
    unexpected: dict[Notice, int] = field(default_factory=dict)


def check_notifications(office: Office, tracks: list[Track],
                        published: bool = True) -> NoticeReport:
    counts = notification_counts(
        office.log, office.media_items(),
        {IT_CHAT} | {p.telegram_id for p in office.people.values() if p.role == "pejabat"})
    report = NoticeReport()
    ours = {t.item_id for t in tracks}
    items = office.items()
    expected: set[Notice] = set()
    for track in tracks:
        # An item that did not get where its plan leads fails check_states; its missing
        # notifications would only repeat that here.
        end = ("published" if published else "approved") if track.plan.approve else "rejected"
        if track.item_id is not None and items.get(track.item_id, {}).get("state") == end:
            expected |= expected_notifications(office, track, published)
    report.expected = len(expected)
    report.missing = sorted((n for n in expected if counts[n] == 0),
                            key=lambda n: (n.item, n.kind, n.chat))
    report.duplicates = {n: c for n, c in counts.items() if n in expected and c > 1}
    report.unexpected = {n: c for n, c in counts.items()
                         if n not in expected and n.item in ours}
    return report


@dataclass
class UpdateReport:
    injected: int = 0
    stored: int = 0
    lost: list[str] = field(default_factory=list)  # injected, never stored or never handled
    failed: list[str] = field(default_factory=list)  # stored, closed with an error
    handled_again: int = 0  # rows handled more than once (interrupted by a kill)
    redelivered: int = 0  # update ids getUpdates handed out more than once


def check_updates(office: Office, injections: list[Injection]) -> UpdateReport:
    """Every injected update is in the durable inbox and was handled without error."""
    rows = office.inbound()
    by_ref: dict[tuple[Any, ...], JSON] = {}
    for row in rows:
        payload = row["payload"]
        if "callback_query" in payload:
            by_ref[("callback", str(payload["callback_query"]["id"]))] = row
        elif "message" in payload:
            message = payload["message"]
            by_ref[("message", int(message["chat"]["id"]), int(message["message_id"]))] = row
    report = UpdateReport(injected=len(injections), stored=len(rows))
    for injection in injections:
        row = by_ref.get(injection.ref)
        what = f"item {injection.item} {injection.step} {injection.ref}"
        if row is None or row["handled_at"] is None:
            report.lost.append(f"{what}: {'never stored' if row is None else 'not handled'}")
        elif row["last_error"]:
            report.failed.append(f"{what}: {row['last_error']}")
    report.handled_again = sum(1 for row in rows if row["attempts"] > 1)
    report.redelivered = sum(1 for n in office.log.deliveries().values() if n > 1)
    return report


@dataclass
class PostReport:
    approved: int = 0
    posts: int = 0
    by_search: int = 0
    problems: list[str] = field(default_factory=list)


def check_posts(office: Office, tracks: list[Track], reader: WordPressReader,
                run: str) -> PostReport:
    """Exactly one post per approved item (the one the item records), none for a rejected
    one; looked up by slug (and slug-2, -3) and by the run's tag in the titles."""
    items = office.items()
    keys = office.publish_keys()
    approved = [t for t in tracks if t.plan.approve and t.item_id is not None]
    rejected = [t for t in tracks if not t.plan.approve and t.item_id is not None]
    report = PostReport(approved=len(approved))
    sample = next(iter(keys.items()), None)
    prefix = ""
    if sample is not None:
        item_id, key = sample
        assert key.endswith(str(item_id)), f"publish key {key!r} does not end in {item_id}"
        prefix = key[: -len(str(item_id))]
    slugs = {post_slug(keys.get(t.item_id, f"{prefix}{t.item_id}")): t.item_id
             for t in approved + rejected if t.item_id is not None}
    found = reader.posts_by_slug(slugs)
    for track in approved:
        assert track.item_id is not None
        posts = found.get(track.item_id, [])
        report.posts += len(posts)
        item = items[track.item_id]
        if len(posts) != 1:
            report.problems.append(f"item {track.item_id}: {len(posts)} posts "
                                   f"{[(p['id'], p['slug']) for p in posts]}")
        elif str(posts[0]["id"]) != str(item["remote_id"]):
            report.problems.append(f"item {track.item_id}: post {posts[0]['id']} but the item "
                                   f"records {item['remote_id']!r}")
    for track in rejected:
        assert track.item_id is not None
        if found.get(track.item_id):
            report.problems.append(f"rejected item {track.item_id} has posts "
                                   f"{found[track.item_id]}")
    titled = reader.posts_mentioning(run)
    report.by_search = len(titled)
    titles = Counter(str((p.get("title") or {}).get("raw", "")) for p in titled)
    report.problems += [f"{n} posts titled {title!r}" for title, n in titles.items() if n > 1]
    if len(titled) != len(approved):
        report.problems.append(f"{len(titled)} posts carry the run's tag {run!r}, "
                               f"{len(approved)} items were approved")
    return report


def check_states(office: Office, tracks: list[Track], published: bool = True) -> list[str]:
    """Each item is where its inputs lead: approved -> published (or approved without a
    website), rejected -> rejected; by the planned people, with the edited title."""
    items = office.items()
    problems = []
    for track in tracks:
        plan = track.plan
        if track.item_id is None or track.item_id not in items:
            problems.append(f"item {plan.index}: never created")
            continue
        item = items[track.item_id]
        wanted = ("published" if published else "approved") if plan.approve else "rejected"
        decider = office.person_ids[office.tid(plan.official)]
        editor = office.person_ids[office.tid(plan.editor)]
        if (item["state"], item["decided_by_id"], item["editor_id"], item["title"]) != (
                wanted, decider, editor, plan.title):
            problems.append(f"item {plan.index} (#{track.item_id}): {item['state']} decided by "
                            f"{item['decided_by_id']} edited by {item['editor_id']} titled "
                            f"{item['title']!r}; wanted {wanted} by {decider}/{editor}")
    return problems


@dataclass(frozen=True)
class Duplicate:
    notice: Notice
    seqs: tuple[int, ...]  # the double's call numbers of the copies
    kills: int  # kill -9s between the first copy and the last

    def __str__(self) -> str:
        n = self.notice
        return (f"{n.kind} to chat {n.chat} for item {n.item}: {len(self.seqs)} sends "
                f"(calls {list(self.seqs)}; {self.kills} kill(s) between the first and "
                f"the last)")


def kills_between(marks: list[int], first: int, second: int) -> int:
    return sum(1 for mark in marks if first <= mark < second)


def duplicates_with_kills(office: Office, duplicates: dict[Notice, int],
                          marks: list[int]) -> list[Duplicate]:
    """Each notification sent more than once, with the kills between its copies."""
    found = []
    photos = office.media_items()
    chats = {IT_CHAT} | {p.telegram_id for p in office.people.values() if p.role == "pejabat"}
    for notice in sorted(duplicates, key=lambda n: (n.item, n.kind, n.chat)):
        seqs = tuple(call["seq"] for call in office.log.ok("sendMessage", "sendPhoto")
                     if notification_counts(_single(call), photos, chats).get(notice))
        found.append(Duplicate(notice, seqs, kills_between(marks, seqs[0], seqs[-1])))
    return found


def _single(call: JSON) -> CallLog:
    log = CallLog.__new__(CallLog)
    log.calls = {int(call["seq"]): call}
    return log


def log_summary(text: str, levels: tuple[str, ...] = ("error", "warning")) -> dict[str, int]:
    """The bot's log lines of `levels`, grouped by message (numbers blanked)."""
    counts: Counter[str] = Counter()
    for match in re.finditer(r'level=(\w+) logger=\S+ msg="((?:[^"\\]|\\.){0,90})', text):
        if match.group(1) in levels:
            counts[f"{match.group(1)}: {re.sub(r'[0-9]+', 'N', match.group(2))}"] += 1
    return dict(counts.most_common())


def error_answers(log: CallLog) -> dict[str, int]:
    """The double's answers other than 200, by method, status and description."""
    counts: Counter[str] = Counter()
    for call in log.calls.values():
        if call["status"] != 200:
            error = re.sub(r"[0-9]+", "N", str(call["error"] or ""))[:60]
            counts[f"{call['method']} {call['status']} {error}"] += 1
    return dict(counts.most_common())
