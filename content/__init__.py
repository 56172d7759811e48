"""Course content: the Markdown + TOML course format (a pure parser) and the importer that
validates, embeds and writes a course."""
