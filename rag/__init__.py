"""Retrieval-augmented answering over course material: chunk, embed, retrieve, answer, summarize."""
