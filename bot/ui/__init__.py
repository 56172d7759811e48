"""What the learner sees: texts, keyboards, callback payloads, Markdown rendering, charts."""
