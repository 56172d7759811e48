"""Cross-cutting concerns, in the order they run on every update: in-flight count → (with
Redis) the update's in-flight claim, `claims.py` → group ordering → per-user flood control →
database trouble replies → units of work (update de-duplication and the sender's upsert, one
round trip shared by the updates in flight). None of them holds a database connection across
the handler."""

from bot.middlewares.errors import DatabaseTroubleMiddleware
from bot.middlewares.inflight import InFlightMiddleware
from bot.middlewares.ordering import GroupOrderMiddleware
from bot.middlewares.throttling import ThrottlingMiddleware
from bot.middlewares.unit_of_work import UnitOfWorkMiddleware

__all__ = [
    "DatabaseTroubleMiddleware",
    "GroupOrderMiddleware",
    "InFlightMiddleware",
    "ThrottlingMiddleware",
    "UnitOfWorkMiddleware",
]
