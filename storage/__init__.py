"""PostgreSQL access for learnbot: pool, migrations, embedded server, one module per aggregate.

Nothing here imports aiogram: storage is usable from the CLI, workers and tests alike.
"""
