"""Storage functions take a connection and never choose the transaction: the use case opens
it in one visible place (`async with db.tx() as conn:`). A statically checked rule, and the
runtime guard (`storage.pg.require_tx`) for the functions that need one."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from storage import enrollments, users
from storage.pg import NotInTransaction, require_tx
from tests import factories as f
from tests.helpers import ROOT, import_path, tiny_course

STORAGE = ROOT / "storage"
_OPENS = re.compile(r"\.transaction\(")
# Where opening a transaction is the job: the unit of work itself and its pool helper.
ALLOWED = {("uow.py", "tx"), ("pg.py", "transaction")}
# Migrations run each file in its own transaction on their own connection.
INFRASTRUCTURE = {"migrate.py"}


def inner_transactions(name: str, source: str) -> list[str]:
    """`file:line in function` for every `.transaction(` the rule does not allow."""
    owners: dict[int, str] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                owners[line] = node.name  # walk is outer-first: the innermost wins
    found = []
    for no, line in enumerate(source.splitlines(), start=1):
        if _OPENS.search(line) and (name, owners.get(no, "")) not in ALLOWED:
            found.append(f"{name}:{no} in {owners.get(no, '<module>')}")
    return found


def test_no_storage_module_opens_its_own_transaction() -> None:
    modules = sorted(STORAGE.glob("*.py"))
    assert len(modules) > 10  # the scan really reads storage/
    found = [hit for path in modules if path.name not in INFRASTRUCTURE
             for hit in inner_transactions(path.name, path.read_text(encoding="utf-8"))]
    assert found == [], "storage functions must not open transactions; the use case does " \
                        f"(async with db.tx() as conn:): {found}"


# Locks that last until the transaction ends: in autocommit they end with their statement.
# That is all a single statement that locks and writes needs; but a lock taken for the
# statements after it (a second statement, or a lone SELECT ... FOR UPDATE / advisory lock
# whose caller goes on) means nothing outside a transaction, so such a function must refuse
# to run there.
_HOLDS = re.compile(r"FOR UPDATE|FOR NO KEY UPDATE|FOR SHARE|advisory_xact_lock")
_WRITES = re.compile(r"\b(UPDATE|INSERT|DELETE)\b")


def _statements(node: ast.AsyncFunctionDef) -> int:
    return sum(isinstance(n, ast.Await) and isinstance(n.value, ast.Call)
               and isinstance(n.value.func, ast.Attribute)
               and isinstance(n.value.func.value, ast.Name) and n.value.func.value.id == "conn"
               for n in ast.walk(node))


def unguarded_locks(name: str, source: str) -> list[str]:
    """`file:function` for every function whose lock outlives its statement only inside a
    transaction, and that doesn't `require_tx(conn)`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.AsyncFunctionDef):
            body = ast.get_source_segment(source, node) or ""
            if not _HOLDS.search(body) or "require_tx(conn)" in body:
                continue
            code = body.replace(ast.get_docstring(node, clean=False) or "", "")
            if _statements(node) > 1 or "advisory_xact_lock" in code \
                    or not _WRITES.search(_HOLDS.sub("", code)):
                found.append(f"{name}:{node.name}")
    return found


def test_every_storage_function_that_locks_requires_a_transaction() -> None:
    modules = sorted(STORAGE.glob("*.py"))
    found = [hit for path in modules if path.name not in INFRASTRUCTURE
             for hit in unguarded_locks(path.name, path.read_text(encoding="utf-8"))]
    assert found == [], f"these lock rows but would run in autocommit: {found}"
    planted = (
        'async def lock(conn):\n    await conn.fetch("SELECT 1 FROM t FOR UPDATE")\n'
        'async def claim(conn):\n'
        '    await conn.fetch("UPDATE t SET a = 1 FROM (SELECT 1 FROM t FOR UPDATE) s")\n'
    )
    assert unguarded_locks("x.py", planted) == ["x.py:lock"]


def test_the_scan_finds_a_transaction_opened_in_storage() -> None:
    planted = (
        "async def enroll(conn):\n"
        "    async with conn.transaction():\n"
        "        pass\n"
        "async def tx(conn):\n"
        "    async with conn.transaction(isolation='serializable'):\n"
        "        pass\n"
    )
    assert inner_transactions("enrollments.py", planted) == [
        "enrollments.py:2 in enroll", "enrollments.py:5 in tx"]
    assert inner_transactions("uow.py", planted) == ["uow.py:2 in enroll"]
    # the allowances name real files (a rename must not silently widen them)
    assert all((STORAGE / n).exists() for n in {n for n, _ in ALLOWED} | INFRASTRUCTURE)


async def test_a_multi_statement_function_refuses_an_autocommit_connection(
        pool: asyncpg.Pool, tmp_path: Path) -> None:
    now = datetime(2026, 3, 26, 9, tzinfo=UTC)
    course_id = (await import_path(pool, tiny_course(tmp_path / "c"))).course_id
    async with pool.acquire() as conn:
        u = await f.user(conn)
        with pytest.raises(NotInTransaction, match=r"storage\.enrollments\.enroll must be called"
                                                   r" inside a transaction"):
            await enrollments.enroll(conn, u, course_id, now)
        with pytest.raises(NotInTransaction, match="set_delivery_hour"):
            await users.set_delivery_hour(conn, u, 7, now)
        assert await conn.fetchval("SELECT count(*) FROM enrollments") == 0  # nothing half-done
        async with conn.transaction():
            assert (await enrollments.enroll(conn, u, course_id, now)).created


async def test_require_tx_passes_inside_and_raises_outside(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(NotInTransaction):
            require_tx(conn)
        async with conn.transaction():
            require_tx(conn)
