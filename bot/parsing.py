"""Parsing what admins and tutors type or upload: member lists (arguments or CSV), projects,
the text after a command. Pure functions; every problem comes back as a line to show."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from storage.cohorts import MEMBER_STATUSES, MemberInput

EMAIL = re.compile(r"^[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"']+$")
COHORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
MAX_MEMBERS = 5000
MAX_BATCH = 1000


@dataclass
class Members:
    members: list[MemberInput] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _email(value: str) -> str | None:
    value = value.strip().strip("<>").lower()
    return value if len(value) <= 254 and EMAIL.match(value) else None


def _batch(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() and 1 <= int(value) <= MAX_BATCH else None


def _dedupe(result: Members) -> Members:
    """Last mention of an email wins (one upsert statement can't touch a row twice)."""
    by_email = {m.email: m for m in result.members}
    result.members = list(by_email.values())
    return result


def members_from_args(text: str) -> Members:
    """`[batch=N] [status=S] email email, email; ...` — options apply to every email."""
    result = Members()
    batch, status = 1, "active"
    emails: list[str] = []
    for token in re.split(r"[\s,;]+", text.strip()):
        if not token:
            continue
        key, eq, value = token.partition("=")
        if eq and key.lower() in ("batch", "batch_no"):
            parsed = _batch(value)
            if parsed is None:
                result.problems.append(f"batch must be a number from 1 to {MAX_BATCH}: {token}")
            else:
                batch = parsed
        elif eq and key.lower() == "status":
            if value.lower() not in MEMBER_STATUSES:
                result.problems.append(f"status must be one of {', '.join(MEMBER_STATUSES)}")
            else:
                status = value.lower()
        else:
            emails.append(token)
    for raw in emails:
        email = _email(raw)
        if email is None:
            result.problems.append(f"not an email address: {raw[:80]}")
        else:
            result.members.append(MemberInput(email, batch, status))
    if len(result.members) > MAX_MEMBERS:
        result.problems.append(f"at most {MAX_MEMBERS} members at once")
        result.members = []
    return _dedupe(result)


def members_from_csv(data: bytes) -> Members:
    """Rows of email[, batch[, status]]; a header row naming the columns is optional."""
    result = Members()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        result.problems.append("the file is not UTF-8 text")
        return result
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    columns = {"email": 0, "batch": 1, "status": 2}
    start = 0
    if rows and any("mail" in cell.lower() for cell in rows[0]):
        header = [cell.strip().lower() for cell in rows[0]]
        columns = {
            "email": next((i for i, h in enumerate(header) if "mail" in h), 0),
            "batch": next((i for i, h in enumerate(header) if h.startswith("batch")), -1),
            "status": next((i for i, h in enumerate(header) if h == "status"), -1),
        }
        start = 1
    for line_no, row in enumerate(rows[start:], start=start + 1):
        if not any(cell.strip() for cell in row):
            continue
        member = _csv_member(row, columns, line_no, result.problems)
        if member:
            result.members.append(member)
        if len(result.members) > MAX_MEMBERS:
            result.problems.append(f"at most {MAX_MEMBERS} members per file")
            result.members = []
            break
    return _dedupe(result)


def _csv_member(row: list[str], columns: dict[str, int], line_no: int,
                problems: list[str]) -> MemberInput | None:
    def cell(name: str) -> str:
        i = columns[name]
        return row[i].strip() if 0 <= i < len(row) else ""

    email = _email(cell("email"))
    if email is None:
        problems.append(f"line {line_no}: not an email address: {cell('email')[:80]!r}")
        return None
    batch = _batch(cell("batch")) if cell("batch") else 1
    if batch is None:
        problems.append(f"line {line_no}: batch must be a number from 1 to {MAX_BATCH}")
        return None
    status = cell("status").lower() or "active"
    if status not in MEMBER_STATUSES:
        problems.append(f"line {line_no}: status must be one of {', '.join(MEMBER_STATUSES)}")
        return None
    return MemberInput(email, batch, status)


@dataclass(frozen=True)
class ProjectInput:
    batch_no: int
    title: str
    url: str


def project_from_args(text: str) -> ProjectInput | str:
    """`<batch> <title words…> <url>`; returns the problem as text when it doesn't parse."""
    parts = text.split()
    if len(parts) < 3 or _batch(parts[0]) is None:
        return "usage"
    url = parts[-1]
    if not re.match(r"^https?://\S+$", url) or len(url) > 2000:
        return "url"
    title = " ".join(parts[1:-1])[:200]
    return ProjectInput(int(parts[0]), title, url)


def html_after_words(html_text: str, words: int) -> str:
    """The HTML of a message after its first `words` whitespace-separated words (the command
    and its leading arguments), keeping the sender's formatting and line breaks."""
    parts = html_text.lstrip().split(None, words)
    return parts[words].strip() if len(parts) > words else ""
