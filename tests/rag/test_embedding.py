"""The embedder as learners meet it while an admin imports a course."""

from __future__ import annotations

import asyncio
import threading
from functools import partial

import numpy as np


async def test_a_question_asked_during_an_import_waits_for_one_batch_not_the_whole_import(
    embedder,
) -> None:
    # the model's own encode, not the session's memo of it (tests/conftest.py)
    encode = partial(type(embedder).encode, embedder)
    docs = [f"Passage {i}: a table holds rows, and every row has the same columns."
            for i in range(200)]
    done = 0
    started = threading.Event()

    def progress(n: int) -> None:
        nonlocal done
        done += n
        started.set()

    importing = asyncio.create_task(asyncio.to_thread(encode, docs, progress))
    await asyncio.to_thread(started.wait)
    before = done
    question = await asyncio.to_thread(encode, ["how do I add a column to a table?"], None,
                                       question=True)
    after = done
    vectors = await importing

    # the batch under way when it was asked (and, at worst, the one that began while the
    # question's thread was starting), then the question: a few dozen passages, not the rest
    # of the import (about a second on this CPU, where 64 a batch cost up to five)
    assert after - before <= 32, (before, after)
    assert after < len(docs)
    assert done == len(docs) and vectors.shape == (len(docs), 384)
    # encoded on one thread, a question's vector is the model's all the same
    alone = encode(["how do I add a column to a table?"])
    assert np.allclose(question, alone, atol=1e-5)
