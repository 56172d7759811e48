"""Cross-cutting concerns, in the order they run on every update: group ordering → database
connection → update de-duplication → user upsert → per-user flood control."""

from bot.middlewares.database import DatabaseMiddleware
from bot.middlewares.dedupe import DedupeMiddleware
from bot.middlewares.ordering import GroupOrderMiddleware
from bot.middlewares.throttling import ThrottlingMiddleware
from bot.middlewares.users import UserMiddleware

__all__ = [
    "DatabaseMiddleware",
    "DedupeMiddleware",
    "GroupOrderMiddleware",
    "ThrottlingMiddleware",
    "UserMiddleware",
]
