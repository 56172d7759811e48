"""No password survives into an error line, whatever DSN form the operator used."""

from __future__ import annotations

import pytest

from storage.pg import redact_dsn


@pytest.mark.parametrize(
    ("dsn", "kept"),
    [
        ("postgresql://bot:s3cr3t@db:5432/learnbot", "postgresql://bot:***@db:5432/learnbot"),
        ("postgres://bot:p@ss/w0rd@db/learnbot", "postgres://bot:***@db/learnbot"),
        ("postgresql://bot@db/learnbot?password=s3cr3t&sslmode=require",
         "postgresql://bot@db/learnbot?password=***&sslmode=require"),
        ("postgresql:///learnbot?host=/run/pg&PASSWORD=s3cr3t",
         "postgresql:///learnbot?host=/run/pg&PASSWORD=***"),
        ("host=db user=bot password=s3cr3t dbname=learnbot",
         "host=db user=bot password=*** dbname=learnbot"),
        ("host=db password = 's3 cr\\'3t' dbname=learnbot", "host=db password=*** dbname=learnbot"),
        ("postgresql://bot@db/learnbot", "postgresql://bot@db/learnbot"),
    ],
)
def test_password_is_hidden(dsn: str, kept: str) -> None:
    shown = redact_dsn(dsn)
    assert shown == kept
    assert "s3" not in shown and "w0rd" not in shown
